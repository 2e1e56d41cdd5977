"""Spectral and scalar metrics of the metric contract (DESIGN.md), in original units.

Wasserstein-1 between two spectra on the same uniform grid: each spectrum is clipped at 0 and
normalised to unit sum over the bins; WD is then sum_i |CDF_p(i) - CDF_q(i)|, in bins
(multiply by dE for eV). A spectrum whose clipped sum is 0 (an all-zero prediction) has no
shape; it is treated as the uniform distribution over the window, so it scores the distance
from "no information" instead of being skipped (skipping would reward predicting zeros).
"""

from __future__ import annotations

import numpy as np


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
