"""Metrics of a model's test predictions on phonon DOS (`data.spectrum: phonon`), and the physical checks.

DOSTransformer's phonon metrics (supplement A.1, Tables 9-10): per material MSE, MAE and R^2 over the 51 points of the
(max-normalised) spectrum, averaged over materials; beside them the Wasserstein distance of the electron contract,
in grid points and in cm^-1. Physical checks (issue 11):
- modes: the integral of the phonon DOS is 3N modes per cell before normalisation. `modes.true_over_3n` is the
  truth's count on the grid over 3N (the grid's window can cut the highest modes off), `modes.pred_over_3n` the
  same for the prediction, put back on the material's scale (the truth's maximum with `phonon.normalize: max`);
- Debye: at low frequency an acoustic phonon DOS grows as w^2; the exponent of a power law fitted (log-log least
  squares) over the points in DEBYE_WINDOW_CM, median over materials whose spectrum is positive there.
E_F and E_g do not exist for phonons: their keys are null, with the reason under `null_reasons`.
"""

from __future__ import annotations

import math

import numpy as np

from dosforge.metrics import has_task, r2_per_spectrum, wasserstein_bins

DEBYE_WINDOW_CM = (0.0, 100.0)  # exclusive of 0, inclusive of 100: 20, 40, ..., 100 cm^-1 on the default grid
PHONON_KEYS = (
    "dos.mse", "dos.mae", "dos.r2", "dos.wd_bins", "dos.wd_cm",
    "epdos.mae", "epdos.wd_bins", "epdos.wd_cm",
    "modes.true_over_3n", "modes.pred_over_3n", "modes.pred_over_3n_p05", "modes.pred_over_3n_p95",
    "debye.exponent_true", "debye.exponent_pred", "debye.n_fitted",
    "fermi.mae_ev", "gap.mae_ev", "n_test",
)  # fmt: skip
ELECTRON_ONLY = {"fermi.mae_ev": "phonon DOS: no Fermi level", "gap.mae_ev": "phonon DOS: no band gap"}


def frequencies(grid: dict) -> np.ndarray:
    return np.linspace(float(grid["fmin"]), float(grid["fmax"]), int(grid["points"]))


def step_of(grid: dict) -> float:
    return (float(grid["fmax"]) - float(grid["fmin"])) / (int(grid["points"]) - 1)


def debye_exponents(dos: np.ndarray, freqs: np.ndarray, window=DEBYE_WINDOW_CM) -> np.ndarray:
    """Per spectrum the fitted exponent p of dos ~ w^p over the window's points; NaN where not all positive."""
    mask = (freqs > window[0]) & (freqs <= window[1])
    x = np.log(freqs[mask])
    y = np.asarray(dos, float)[:, mask]
    out = np.full(len(y), np.nan)
    if mask.sum() < 2:
        return out
    ok = (y > 0).all(-1)
    if ok.any():
        ly = np.log(y[ok])
        xc = x - x.mean()
        out[ok] = (ly - ly.mean(-1, keepdims=True)) @ xc / (xc @ xc)
    return out


def mode_ratios(dos: np.ndarray, scale: np.ndarray, n_sites: np.ndarray, step: float) -> np.ndarray:
    """Modes on the grid / 3N per material, with each spectrum put back on its scale (negative values count 0)."""
    return np.clip(np.asarray(dos, float), 0.0, None).sum(-1) * step * scale / (3.0 * n_sites)


def _median(x) -> float | None:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else None


def _mean(x) -> float | None:
    x = np.asarray(x, float)
    return float(x.mean()) if x.size else None


def phonon_metrics(pred, grid: dict, scale: np.ndarray, n_sites: np.ndarray, tasks=None) -> dict:
    """The metric dict of one model on phonon data (every PHONON_KEYS key; null where the model lacks a task)."""
    step, freqs = step_of(grid), frequencies(grid)
    out: dict = dict.fromkeys(PHONON_KEYS)
    out["n_test"] = len(pred)
    true_ratio = mode_ratios(pred.dos_true, scale, n_sites, step)
    out["modes.true_over_3n"] = _median(true_ratio)
    exp_true = debye_exponents(pred.dos_true, freqs)
    out["debye.exponent_true"] = _median(exp_true)
    want = set(tasks) if tasks is not None else {"dos", "epdos"}
    if "dos" in want and has_task(pred.dos_pred, "dos_pred", pred.ids):
        err = np.asarray(pred.dos_pred, float) - np.asarray(pred.dos_true, float)
        wd = wasserstein_bins(pred.dos_pred, pred.dos_true)
        out.update({"dos.mse": _mean((err**2).mean(-1)), "dos.mae": _mean(np.abs(err).mean(-1)),
                    "dos.r2": float(np.nanmean(r2_per_spectrum(pred.dos_pred, pred.dos_true))),
                    "dos.wd_bins": _mean(wd), "dos.wd_cm": _mean(wd * step)})  # fmt: skip
        ratio = mode_ratios(pred.dos_pred, scale, n_sites, step)
        out["modes.pred_over_3n"] = _median(ratio)
        out["modes.pred_over_3n_p05"], out["modes.pred_over_3n_p95"] = (float(np.percentile(ratio, q)) for q in (5, 95))
        exp_pred = debye_exponents(pred.dos_pred, freqs)
        out["debye.exponent_pred"] = _median(exp_pred)
        out["debye.n_fitted"] = int(np.isfinite(exp_pred).sum())
    if "epdos" in want and has_task(pred.epdos_pred, "epdos_pred"):
        wd = wasserstein_bins(pred.epdos_pred, pred.epdos_true)
        err = np.abs(np.asarray(pred.epdos_pred, float) - np.asarray(pred.epdos_true, float)).mean(-1)
        out.update({"epdos.mae": _mean(err), "epdos.wd_bins": _mean(wd), "epdos.wd_cm": _mean(wd * step)})
    out["null_reasons"] = {k: ELECTRON_ONLY.get(k, "the model does not predict this task")
                           for k in PHONON_KEYS if out[k] is None}  # fmt: skip
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}
