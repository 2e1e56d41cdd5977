"""Spin summation, Fermi alignment and PCHIP onto the project grid (paper section 4.1 and appendix B).

Bin value (decided here, as `dosforge.grid` states): the *average* of the PCHIP interpolant over the
bin, i.e. the exact integral of the interpolant across the bin divided by dE. Averaging conserves
the number of states in the window (sum(values) * dE = integral of the interpolant over the window),
and a narrow peak between two bin centres is not lost as it would be by sampling at the centres.
PCHIP (Fritsch & Carlson, scipy's `PchipInterpolator`) as the paper prescribes: it is monotone on
monotone data and does not overshoot, so a non-negative DOS stays non-negative.

Coverage policy: the raw energies must span the whole window [E_F + emin, E_F + emax]; a record
that does not is rejected ("window not covered"). Nothing is extrapolated or zero-padded, because
padding would invent an empty band edge that the gap extraction would then read as a gap.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from dosforge.grid import EnergyGrid

# PCHIP slopes at a knot depend on its two neighbours, so keeping this many raw points beyond each
# end of the window gives exactly the interpolant of the full grid inside the window, at lower cost.
_MARGIN = 3


def spin_sum(channels: dict[str, np.ndarray]) -> np.ndarray:
    """Total (spin-degenerate) density: up + down for spin-polarised data, else the one channel (paper app. B)."""
    total = np.asarray(channels["up"], dtype=float)
    if channels.get("down") is not None:
        total = total + np.asarray(channels["down"], dtype=float)
    return total


def window_covered(energies: np.ndarray, efermi: float, grid: EnergyGrid, tol: float = 1e-6) -> bool:
    return bool(energies[0] <= efermi + grid.emin + tol and energies[-1] >= efermi + grid.emax - tol)


def bin_average(energies: np.ndarray, densities: np.ndarray, efermi: float, grid: EnergyGrid) -> np.ndarray:
    """Average of the PCHIP interpolant of `densities` over each grid bin, with E_F at the grid's zero.

    `energies` (P,) absolute and increasing; `densities` (P,) or (P, K) for K spectra at once.
    Returns (T,) or (K, T). The window must be covered (see `window_covered`).
    """
    energies = np.asarray(energies, dtype=float)
    densities = np.asarray(densities, dtype=float)
    edges = grid.edges + efermi
    lo = max(int(np.searchsorted(energies, edges[0], side="right")) - 1 - _MARGIN, 0)
    hi = min(int(np.searchsorted(energies, edges[-1], side="left")) + 1 + _MARGIN, len(energies))
    # clip the evaluation points onto the knots so that a window end equal to the last knot (within
    # round-off) is not an extrapolation
    x = energies[lo:hi]
    cumulative = PchipInterpolator(x, densities[lo:hi], axis=0).antiderivative()(np.clip(edges, x[0], x[-1]))
    values = np.diff(cumulative, axis=0) / grid.de
    return values.T if values.ndim == 2 else values


def grid_spectra(
    energies: np.ndarray,
    efermi: float,
    total: dict[str, np.ndarray],
    elements: dict[str, dict[str, np.ndarray]],
    grid: EnergyGrid,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Spin-summed total DOS and per-element EPDOS on the grid, interpolated in one PCHIP call."""
    symbols = list(elements)
    columns = [spin_sum(total)] + [spin_sum(elements[s]) for s in symbols]
    gridded = bin_average(energies, np.stack(columns, axis=1), efermi, grid)
    return gridded[0], {s: gridded[i + 1] for i, s in enumerate(symbols)}


def element_residual(dos: np.ndarray, epdos_sum: np.ndarray) -> float:
    """How far the element sum departs from the total: integral |sum_e g_e - g| dE / integral g dE over the window.

    VASP projects onto spheres around the atoms, so the element sum usually falls short of the total
    (interstitial charge); this number records that per material instead of hiding it.
    """
    return float(np.abs(epdos_sum - dos).sum() / dos.sum())
