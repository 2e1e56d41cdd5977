"""Spectral and scalar metrics of the metric contract (DESIGN.md), in original units.

Wasserstein-1 between two spectra on the same uniform grid: each spectrum is clipped at 0 and
normalised to unit sum over the bins; WD is then sum_i |CDF_p(i) - CDF_q(i)|, in bins
(multiply by dE for eV). A spectrum whose clipped sum is 0 (an all-zero prediction) has no
shape; it is treated as the uniform distribution over the window, so it scores the distance
from "no information" instead of being skipped (skipping would reward predicting zeros).

`compute_metrics(pred, grid)` turns one model's test `Predictions` into the flat dict of the
metric contract; docs/metrics.md spells out every definition.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from dosforge.gap import EXT_THRESHOLD, threshold_gap
from dosforge.grid import EnergyGrid

# The keys of the metric contract (DESIGN.md), in the order they are written to metrics/<model>.json.
CONTRACT_KEYS = (
    "dos.mae",
    "dos.mse",
    "dos.r2",
    "dos.wd_bins",
    "dos.wd_ev",
    "epdos.wd_bins",
    "epdos.wd_ev",
    "epdos.mae",
    "fermi.mae_ev",
    "gap.mae_ev",
    "gap.ext_mae_ev",
    "n_test",
)
# Physical consistency (issue 9), written after the contract keys: the paper claims the element
# contributions sum to the total DOS and the gap sits where the predicted DOS is empty.
CONSISTENCY_KEYS = ("consistency.sum_rule", "consistency.sum_rule_true", "consistency.gap_vs_ext_mae_ev")
# Diagnostics written after those, so nothing a number rests on is hidden.
DIAGNOSTIC_KEYS = (
    "dos.r2_n_undefined",
    "dos.n_zero_pred",
    "epdos.n_pairs",
    "epdos.n_zero_pred",
    "epdos.n_zero_true",
    "consistency.sum_rule_n_zero_dos",
)
METRIC_KEYS = CONTRACT_KEYS + CONSISTENCY_KEYS + DIAGNOSTIC_KEYS  # the order of metrics/<model>.json
TASKS = ("dos", "epdos", "fermi", "gap")


def _as_distribution(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=float), 0.0, None)
    total = x.sum(-1, keepdims=True)
    uniform = np.full_like(x, 1.0 / x.shape[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, x / np.where(total > 0, total, 1.0), uniform)


def wasserstein_bins(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-spectrum 1-D Wasserstein-1 distance in bins; inputs (..., T), output (...)."""
    p = np.cumsum(_as_distribution(pred), axis=-1)
    q = np.cumsum(_as_distribution(true), axis=-1)
    return np.abs(p - q).sum(-1)


def wasserstein_ev(pred: np.ndarray, true: np.ndarray, de: float) -> np.ndarray:
    """`wasserstein_bins` x the bin width: the same distance in eV."""
    return wasserstein_bins(pred, true) * de


def r2_per_spectrum(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """R^2 over the bins of each spectrum (computed per material, to be averaged over materials).

    A true spectrum with zero variance has undefined R^2; it is returned as NaN and callers
    average with nanmean (and report how many were excluded).
    """
    pred = np.asarray(pred, dtype=float)
    true = np.asarray(true, dtype=float)
    ss_res = ((true - pred) ** 2).sum(-1)
    ss_tot = ((true - true.mean(-1, keepdims=True)) ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)


def has_task(values: np.ndarray, name: str, ids: list[str] | None = None) -> bool:
    """True when a prediction array is filled, False when it is all NaN (the model lacks the task).

    A partly-NaN array is neither: it means a broken model or file, and is an error that names
    the affected materials rather than a number computed on whatever is left.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return False
    bad = ~np.isfinite(values)
    if bad.all():
        return False
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(values), -1).any(-1))
        named = ids is not None and len(ids) == len(values)
        shown = [ids[i] for i in rows[:5]] if named else [f"row {i}" for i in rows[:5]]
        raise ValueError(
            f"{name} has non-finite values in {len(rows)} of {len(values)} rows (first: {shown}); a model predicts a "
            "task for every material or for none (all NaN) — re-run the model's predictions"
        )
    return True


def _require_truth(values: np.ndarray, name: str) -> None:
    if not np.isfinite(np.asarray(values, dtype=float)).all():
        raise ValueError(f"{name} has missing (NaN) ground truth; evaluation needs the truth for every test material")


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if np.size(x) else math.nan


def ext_gap(dos_pred: np.ndarray, grid: EnergyGrid, threshold: float = EXT_THRESHOLD) -> np.ndarray:
    """E_g^ext (eV) of each predicted DOS: the appendix A.4 threshold scan (dosforge.gap.threshold_gap)."""
    return threshold_gap(dos_pred, grid.de, threshold)


def sum_by_material(rows: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Sum the element rows of each material: (M, T) rows and (N+1,) pointers -> (N, T); no rows -> zeros."""
    rows = np.asarray(rows, dtype=float)
    ptr = np.asarray(ptr, dtype=np.int64)
    out = np.zeros((len(ptr) - 1, rows.shape[-1]))
    filled = np.diff(ptr) > 0
    if filled.any():  # reduceat over the non-empty materials only: an empty one would repeat its neighbour's row
        out[filled] = np.add.reduceat(rows, ptr[:-1][filled], axis=0)
    return out


def sum_rule_residual(dos: np.ndarray, epdos: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Per material ||sum_el EPDOS - DOS||_1 / ||DOS||_1 over the bins, negatives set to 0 first (as outputs are).

    0 means the element spectra add up to the total exactly; 1 is, e.g., no element states at all or
    twice the total. A material whose clipped DOS is all zero has no scale: it scores 0 when its
    element sum is all zero too (the sum rule holds) and 1 otherwise (a full violation, never skipped,
    which would reward predicting an empty total).
    """
    d = np.clip(np.asarray(dos, dtype=float), 0.0, None)
    s = sum_by_material(np.clip(np.asarray(epdos, dtype=float), 0.0, None), ptr)
    diff = np.abs(s - d).sum(-1)
    norm = d.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, diff / np.where(norm > 0, norm, 1.0), np.where(diff > 0, 1.0, 0.0))


def predicted_tasks(pred, expected: Iterable[str] | None = None) -> dict[str, bool]:
    """Which of the four tasks a model's Predictions carry (see `has_task`).

    `expected` (e.g. the `tasks` attribute training stores in test_predictions.h5) turns a
    mismatch into an error: a model that should predict a task but wrote only NaN (a diverged run)
    must not pass for a model without that task.
    """
    found = {
        "dos": has_task(pred.dos_pred, "dos_pred", pred.ids),
        "epdos": has_task(pred.epdos_pred, "epdos_pred"),
        "fermi": has_task(pred.fermi_pred, "fermi_pred", pred.ids),
        "gap": has_task(pred.gap_pred, "gap_pred", pred.ids),
    }
    if expected is not None:
        expected = set(expected)
        if expected - set(TASKS):
            raise ValueError(f"unknown task(s) {sorted(expected - set(TASKS))}; valid: {', '.join(TASKS)}")
        wrong = [t for t in TASKS if found[t] != (t in expected)]
        if wrong:
            raise ValueError(
                f"the model's tasks are {sorted(expected)} but its predictions are "
                + ", ".join(f"{t}: {'present' if found[t] else 'all NaN'}" for t in wrong)
                + " — the model diverged or the file is inconsistent; re-run its training"
            )
    return found


def compute_metrics(pred, grid: EnergyGrid, tasks: Iterable[str] | None = None) -> dict:
    """The metric contract for one model's test-split `Predictions`, in original units.

    Returns a flat dict with every key of `METRIC_KEYS` (contract, consistency, diagnostics); a task the
    model does not predict gives NaN for its keys (written as JSON null). Spectral MAE/MSE are
    per bin, averaged over bins and spectra (states/eV, (states/eV)^2); WD is averaged over
    materials (DOS) or (material, element) pairs (EPDOS); R^2 is per material then averaged.
    `tasks`, when given, is the task list the model was trained for (checked by `predicted_tasks`).
    """
    n = len(pred)
    if n == 0:
        raise ValueError("no test materials in the predictions: nothing to evaluate")
    t = grid.bins
    if np.shape(pred.dos_pred)[-1] != t:
        raise ValueError(f"predictions have {np.shape(pred.dos_pred)[-1]} bins but grid.bins is {t}: wrong grid params")
    tasks = predicted_tasks(pred, tasks)
    out = dict.fromkeys(METRIC_KEYS, math.nan)
    out["n_test"] = n

    if tasks["dos"]:
        _require_truth(pred.dos_true, "dos_true")
        p, q = np.asarray(pred.dos_pred, float), np.asarray(pred.dos_true, float)
        err = p - q
        wd = wasserstein_bins(p, q)
        r2 = r2_per_spectrum(p, q)
        out.update(
            {
                "dos.mae": _mean(np.abs(err)),
                "dos.mse": _mean(err**2),
                "dos.r2": float(np.nanmean(r2)) if np.isfinite(r2).any() else math.nan,
                "dos.wd_bins": _mean(wd),
                "dos.wd_ev": _mean(wd) * grid.de,
                "dos.r2_n_undefined": int(np.isnan(r2).sum()),
                "dos.n_zero_pred": int((np.clip(p, 0, None).sum(-1) == 0).sum()),
            }
        )
        if np.isfinite(pred.gap_true).all():  # E_g^ext needs only a predicted DOS (appendix A.4)
            out["gap.ext_mae_ev"] = _mean(np.abs(ext_gap(p, grid) - np.asarray(pred.gap_true, float)))

    if tasks["epdos"]:
        _require_truth(pred.epdos_true, "epdos_true")
        p, q = np.asarray(pred.epdos_pred, float), np.asarray(pred.epdos_true, float)
        wd = wasserstein_bins(p, q)
        out.update(
            {
                "epdos.wd_bins": _mean(wd),
                "epdos.wd_ev": _mean(wd) * grid.de,
                "epdos.mae": _mean(np.abs(p - q)),
                "epdos.n_pairs": len(p),
                "epdos.n_zero_pred": int((np.clip(p, 0, None).sum(-1) == 0).sum()),
                "epdos.n_zero_true": int((np.clip(q, 0, None).sum(-1) == 0).sum()),
            }
        )

    for task, key in (("fermi", "fermi.mae_ev"), ("gap", "gap.mae_ev")):
        if tasks[task]:
            truth = getattr(pred, f"{task}_true")
            _require_truth(truth, f"{task}_true")
            out[key] = _mean(np.abs(np.asarray(getattr(pred, f"{task}_pred"), float) - np.asarray(truth, float)))
    out.update(_consistency(pred, grid, tasks))
    return out


def _consistency(pred, grid: EnergyGrid, tasks: dict[str, bool]) -> dict:
    """The `consistency.*` keys: sum rule on the predictions (DOS and EPDOS needed) and on the truth (the
    reference: the labels' own residual), and the gap head's agreement with E_g^ext (DOS and gap needed)."""
    out = {}
    ptr = np.asarray(pred.epdos_ptr)
    truth_known = (
        np.isfinite(np.asarray(pred.dos_true, float)).all() and np.isfinite(np.asarray(pred.epdos_true, float)).all()
    )
    if truth_known and len(pred.epdos_true) == ptr[-1]:
        out["consistency.sum_rule_true"] = _mean(sum_rule_residual(pred.dos_true, pred.epdos_true, ptr))
    if tasks["dos"] and tasks["epdos"]:
        dos = np.asarray(pred.dos_pred, float)
        out["consistency.sum_rule"] = _mean(sum_rule_residual(dos, pred.epdos_pred, ptr))
        out["consistency.sum_rule_n_zero_dos"] = int((np.clip(dos, 0, None).sum(-1) == 0).sum())
    if tasks["dos"] and tasks["gap"]:
        ext = ext_gap(np.asarray(pred.dos_pred, float), grid)
        out["consistency.gap_vs_ext_mae_ev"] = _mean(np.abs(np.asarray(pred.gap_pred, float) - ext))
    return out


def per_material_wd(pred) -> dict[str, np.ndarray]:
    """Per-material WD in bins: `dos` (N,), `epdos` (N,: mean over the material's element rows), NaN where absent.

    Used to rank test materials for the appendix C percentile panels.
    """
    n = len(pred)
    tasks = predicted_tasks(pred)
    dos = wasserstein_bins(pred.dos_pred, pred.dos_true) if tasks["dos"] else np.full(n, np.nan)
    epdos = np.full(n, np.nan)
    if tasks["epdos"]:
        rows = wasserstein_bins(pred.epdos_pred, pred.epdos_true)
        ptr = np.asarray(pred.epdos_ptr)
        for i in range(n):
            if ptr[i + 1] > ptr[i]:
                epdos[i] = rows[ptr[i] : ptr[i + 1]].mean()
    return {"dos": dos, "epdos": epdos}


def json_ready(metrics: dict) -> dict:
    """NaN -> None (JSON null: valid JSON that `dvc metrics` shows as missing), numpy scalars -> Python."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
            out[k] = int(v)
        elif v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(float(v))):
            out[k] = None
        else:
            out[k] = float(v)
    return out
