"""The pictures a materials scientist looks at: appendix C percentile panels, parity plots, learning curves.

Figures are built on `matplotlib.figure.Figure` (Agg canvas, no pyplot global state) and written
atomically as PNG. Every function returns the path it wrote, or None when the model has nothing to
draw (e.g. no spectral task for the panels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from pymatgen.core.periodic_table import Element

from dosforge.grid import EnergyGrid
from dosforge.io import atomic_path
from dosforge.metrics import ext_gap, per_material_wd, predicted_tasks

APPENDIX_C_PERCENTILES = tuple(range(0, 100, 5))  # 0th (best) .. 95th (worst) in steps of 5 (appendix C)


def _save(fig: Figure, path: str | Path, dpi: int) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path


def select_by_percentile(scores: np.ndarray, percentiles: Sequence[float]) -> list[int]:
    """Index of the material at each score percentile (0 = lowest score = best), nearest-rank on the sorted scores."""
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(scores, kind="stable")
    n = len(order)
    return [int(order[min(n - 1, math.floor(p / 100.0 * (n - 1) + 0.5))]) for p in percentiles]  # halves round up


def panel_selection(scores: np.ndarray, percentiles: Sequence[float]) -> list[tuple[int, list[float]]]:
    """(material index, its percentiles) in percentile order; a material chosen at several consecutive
    percentiles (a test set smaller than the number of percentiles) appears once."""
    chosen: list[tuple[int, list[float]]] = []
    for i, pct in zip(select_by_percentile(scores, percentiles), percentiles, strict=True):
        if chosen and chosen[-1][0] == i:
            chosen[-1][1].append(pct)
        else:
            chosen.append((i, [pct]))
    return chosen


def _inset(ax, lines: list[str]) -> None:
    ax.text(
        0.98, 0.95, "\n".join(lines), transform=ax.transAxes, ha="right", va="top", fontsize=6,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "linewidth": 0.3},
    )  # fmt: skip


def plot_percentile_panels(
    pred,
    grid: EnergyGrid,
    path: str | Path,
    percentiles: Sequence[float] = APPENDIX_C_PERCENTILES,
    ncols: int = 5,
    dpi: int = 100,
    model_name: str = "",
) -> Path | None:
    """Appendix C / figure 5: test materials at DOS+EPDOS WD percentiles, DOS on top, EPDOS below.

    Predictions solid, truth dashed; title: formula, id and percentile; insets: WD (bins), and for
    DOS |dE_F| and |dE_g| (the gap head's prediction, or E_g^ext from the predicted DOS when the
    model has no gap head). EPDOS panels show one colour per element with the aggregate (mean) WD.
    With fewer test materials than percentiles, a material is drawn once, titled with its percentile range.
    """
    tasks = predicted_tasks(pred)
    rows = [t for t in ("dos", "epdos") if tasks[t]]
    if not rows:
        return None
    wd = per_material_wd(pred)
    score = np.nan_to_num(wd["dos"]) + np.nan_to_num(wd["epdos"])  # the paper ranks by DOS + EPDOS WD
    chosen = panel_selection(score, percentiles)
    if tasks["gap"]:
        gap_err, gap_label = np.abs(pred.gap_pred - pred.gap_true), "|ΔE_g|"
    elif tasks["dos"]:
        gap_err, gap_label = np.abs(ext_gap(pred.dos_pred, grid) - pred.gap_true), "|ΔE_g^ext|"
    else:
        gap_err, gap_label = None, ""
    fermi_err = np.abs(pred.fermi_pred - pred.fermi_true) if tasks["fermi"] else None

    e = grid.centers
    nmat = len(chosen)
    ngrid = math.ceil(nmat / ncols)
    fig = Figure(figsize=(3.2 * min(ncols, nmat), 1.9 * len(rows) * ngrid), layout="constrained")
    axes = fig.subplots(len(rows) * ngrid, min(ncols, nmat), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for k, (i, pcts) in enumerate(chosen):
        pct = f"{pcts[0]:g}th" if len(pcts) == 1 else f"{pcts[0]:g}–{pcts[-1]:g}th"
        r0, c = (k // ncols) * len(rows), k % ncols
        for j, task in enumerate(rows):
            ax = axes[r0 + j, c]
            ax.set_visible(True)
            ax.axvline(0.0, color="0.6", lw=0.5)
            ax.tick_params(labelsize=6)
            if task == "dos":
                ax.plot(e, pred.dos_pred[i], "-", color="C0", lw=0.8, label="pred")
                ax.plot(e, pred.dos_true[i], "--", color="k", lw=0.8, label="true")
                lines = [f"WD {wd['dos'][i]:.2f} bins"]
                if fermi_err is not None:
                    lines.append(f"|ΔE_F| {fermi_err[i]:.3f} eV")
                if gap_err is not None:
                    lines.append(f"{gap_label} {gap_err[i]:.3f} eV")
                _inset(ax, lines)
                ax.set_ylabel("DOS (states/eV)", fontsize=6)
            else:
                lo, hi = int(pred.epdos_ptr[i]), int(pred.epdos_ptr[i + 1])
                for m, row in enumerate(range(lo, hi)):
                    colour = f"C{m % 10}"
                    symbol = Element.from_Z(int(pred.epdos_z[row])).symbol
                    ax.plot(e, pred.epdos_pred[row], "-", color=colour, lw=0.8, label=symbol)
                    ax.plot(e, pred.epdos_true[row], "--", color=colour, lw=0.8)
                if hi > lo:
                    ax.legend(fontsize=5, loc="upper left", frameon=False)
                _inset(ax, [f"WD {wd['epdos'][i]:.2f} bins"])
                ax.set_ylabel("EPDOS (states/eV)", fontsize=6)
            if j == 0:
                ax.set_title(f"{pred.formula[i]} ({pred.ids[i]}) — {pct} pct", fontsize=7)
            if j == len(rows) - 1:
                ax.set_xlabel("E − E_F (eV)", fontsize=6)
    fig.suptitle(f"{model_name}: test materials at DOS+EPDOS WD percentiles (solid: prediction, dashed: truth)")
    return _save(fig, path, dpi)


def plot_parity(pred, grid: EnergyGrid, path: str | Path, dpi: int = 100, model_name: str = "") -> Path | None:
    """Predicted vs true E_F and E_g (gap head) and E_g^ext (from the predicted DOS), with MAE in each title."""
    tasks = predicted_tasks(pred)
    series = []
    if tasks["fermi"]:
        series.append(("E_F", "true E_F (eV)", "predicted E_F (eV)", pred.fermi_true, pred.fermi_pred))
    if tasks["gap"]:
        series.append(("E_g", "true E_g (eV)", "predicted E_g (eV)", pred.gap_true, pred.gap_pred))
    if tasks["dos"]:
        ext = ext_gap(pred.dos_pred, grid)
        series.append(("E_g^ext", "true E_g (eV)", "E_g^ext of the predicted DOS (eV)", pred.gap_true, ext))
    if not series:
        return None
    fig = Figure(figsize=(3.4 * len(series), 3.4), layout="constrained")
    axes = fig.subplots(1, len(series), squeeze=False)[0]
    for ax, (name, xlabel, ylabel, true, guess) in zip(axes, series, strict=True):
        true, guess = np.asarray(true, float), np.asarray(guess, float)
        lo, hi = float(min(true.min(), guess.min())), float(max(true.max(), guess.max()))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "--", color="0.5", lw=0.8)
        ax.scatter(true, guess, s=6, alpha=0.6)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(f"{name}: MAE {np.mean(np.abs(guess - true)):.3f} eV (n={len(true)})", fontsize=8)
        ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(f"{model_name}: parity on the test split", fontsize=9)
    return _save(fig, path, dpi)


def plot_learning_curves(rows: list[dict], path: str | Path, dpi: int = 100, model_name: str = "") -> Path | None:
    """Loss columns (log scale) against epoch, and the learning rate on a second panel when recorded."""
    if not rows:
        return None
    cols = [c for c in rows[0] if c != "epoch"]
    losses = [c for c in cols if "loss" in c]
    lrs = [c for c in cols if c == "lr" or c.endswith("lr")]
    if not losses:
        return None
    epoch = [r["epoch"] for r in rows]
    fig = Figure(figsize=(6.4, 4.8 if lrs else 3.4), layout="constrained")
    axes = fig.subplots(2 if lrs else 1, 1, squeeze=False, sharex=True)[:, 0]
    for c in losses:
        y = np.array([r.get(c, np.nan) for r in rows], dtype=float)
        axes[0].plot(epoch, y, "-" if c.startswith("train") else "--", lw=1.0, label=c)
    if all(np.nanmin([r.get(c, np.nan) for r in rows]) > 0 for c in losses):
        axes[0].set_yscale("log")
    axes[0].set_ylabel("loss (normalised space)")
    axes[0].legend(fontsize=7)
    if lrs:
        for c in lrs:
            axes[1].plot(epoch, [r.get(c, np.nan) for r in rows], lw=1.0, label=c)
        axes[1].set_yscale("log")
        axes[1].set_ylabel("learning rate")
    axes[-1].set_xlabel("epoch")
    fig.suptitle(f"{model_name}: learning curves", fontsize=9)
    return _save(fig, path, dpi)
