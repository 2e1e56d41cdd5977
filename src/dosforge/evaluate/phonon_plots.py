"""Figures of phonon-DOS models: spectra at WD percentiles (frequency axis in cm^-1) and the 3N mode-count parity.

The electron figures (plots.py) draw E_F, gaps and eV axes; a phonon spectrum has none of these, so it gets its own
two figures, built the same way (Agg `Figure`, atomic PNG, None when there is nothing to draw).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from pymatgen.core.periodic_table import Element

from dosforge.evaluate.plots import _inset, _save, panel_selection
from dosforge.metrics import has_task, wasserstein_bins

PANEL_PERCENTILES = (0, 10, 25, 50, 75, 90, 95)


def plot_phonon_panels(pred, freqs: np.ndarray, path: str | Path, percentiles: Sequence[float] = PANEL_PERCENTILES,
                       ncols: int = 4, dpi: int = 100, model_name: str = "") -> Path | None:  # fmt: skip
    """Test materials at DOS WD percentiles: total DOS (and element rows when predicted), truth dashed."""
    if not has_task(pred.dos_pred, "dos_pred", pred.ids):
        return None
    step = float(freqs[1] - freqs[0])
    wd = wasserstein_bins(pred.dos_pred, pred.dos_true)
    epdos = has_task(pred.epdos_pred, "epdos_pred")
    chosen = panel_selection(wd, percentiles)
    nrows = math.ceil(len(chosen) / ncols)
    fig = Figure(figsize=(3.0 * min(ncols, len(chosen)), 2.1 * nrows), layout="constrained")
    axes = fig.subplots(nrows, min(ncols, len(chosen)), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for k, (i, pcts) in enumerate(chosen):
        ax = axes[k // ncols, k % ncols]
        ax.set_visible(True)
        ax.tick_params(labelsize=6)
        ax.plot(freqs, pred.dos_pred[i], "-", color="k", lw=0.9, label="total")
        ax.plot(freqs, pred.dos_true[i], "--", color="k", lw=0.9)
        if epdos:
            for m, row in enumerate(range(int(pred.epdos_ptr[i]), int(pred.epdos_ptr[i + 1]))):
                symbol = Element.from_Z(int(pred.epdos_z[row])).symbol
                ax.plot(freqs, pred.epdos_pred[row], "-", color=f"C{m % 10}", lw=0.7, label=symbol)
                ax.plot(freqs, pred.epdos_true[row], "--", color=f"C{m % 10}", lw=0.7)
            ax.legend(fontsize=5, loc="upper left", frameon=False)
        pct = f"{pcts[0]:g}th" if len(pcts) == 1 else f"{pcts[0]:g}–{pcts[-1]:g}th"
        ax.set_title(f"{pred.formula[i]} ({pred.ids[i]}) — {pct} pct", fontsize=7)
        _inset(ax, [f"WD {wd[i] * step:.0f} cm⁻¹"])
        ax.set_xlabel("frequency (cm⁻¹)", fontsize=6)
        ax.set_ylabel("phonon DOS (normalised)", fontsize=6)
    fig.suptitle(f"{model_name}: test materials at DOS WD percentiles (solid: prediction, dashed: truth)", fontsize=9)
    return _save(fig, path, dpi)


def plot_mode_parity(true_ratio: np.ndarray, pred_ratio: np.ndarray, path: str | Path, dpi: int = 100,
                     model_name: str = "") -> Path | None:  # fmt: skip
    """Modes on the grid / 3N: prediction against truth (1 = every mode of the cell inside the window)."""
    if pred_ratio is None or not np.isfinite(pred_ratio).all() or not len(pred_ratio):
        return None
    fig = Figure(figsize=(3.6, 3.4), layout="constrained")
    ax = fig.subplots()
    lo = float(min(true_ratio.min(), pred_ratio.min(), 0.8))
    hi = float(max(true_ratio.max(), pred_ratio.max(), 1.1))
    ax.plot([lo, hi], [lo, hi], "--", color="0.5", lw=0.8)
    ax.axhline(1.0, color="0.8", lw=0.6)
    ax.axvline(1.0, color="0.8", lw=0.6)
    ax.scatter(true_ratio, pred_ratio, s=8, alpha=0.7)
    ax.set_xlabel("true modes in window / 3N", fontsize=8)
    ax.set_ylabel("predicted modes in window / 3N", fontsize=8)
    ax.set_title(f"{model_name}: 3N check (n={len(true_ratio)})", fontsize=8)
    return _save(fig, path, dpi)
