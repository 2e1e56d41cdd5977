"""Spin summation, Fermi alignment and PCHIP onto the project grid (paper section 4.1 and appendix B).

PCHIP (Fritsch & Carlson, scipy's `PchipInterpolator`) as the paper prescribes: it is monotone on
monotone data and does not overshoot, so a non-negative DOS stays non-negative. What a bin holds is
`preprocess.resample` (`RESAMPLE_MODES`):

- `interpolate` (the default, the paper's: "interpolate onto a uniform 256-bin grid", appendix B):
  the PCHIP curve evaluated at the bin centre. A peak keeps its height (up to where the centres
  fall: within 2.2 % of the raw maximum on the MP fixtures), but the number of states in the window
  (sum(values) * dE) is conserved only up to the midpoint-rule error, and a peak narrower than a bin
  that lies between two centres is partly or wholly missed.
- `average` (our earlier default, kept as an option): the average of the PCHIP curve over the bin,
  i.e. its exact integral across the bin divided by dE. It conserves the number of states in the
  window exactly (sum(values) * dE = integral of the interpolant) and never loses a narrow peak, but
  it lowers sharp peaks towards their bin average (a departure from the paper; docs/data_pipeline.md
  gives both modes' numbers on real MP spectra).

Coverage policy: the raw energies must span the whole window [E_F + emin, E_F + emax]; a record
that does not is rejected ("window not covered"). Nothing is extrapolated or zero-padded, because
padding would invent an empty band edge that the gap extraction would then read as a gap.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from dosforge.config import choice
from dosforge.grid import EnergyGrid

# PCHIP slopes at a knot depend on its two neighbours, so keeping this many raw points beyond each
# end of the window gives exactly the interpolant of the full grid inside the window, at lower cost.
_MARGIN = 3
INTERPOLATE, AVERAGE = "interpolate", "average"
RESAMPLE_MODES = (INTERPOLATE, AVERAGE)
DEFAULT_RESAMPLE = INTERPOLATE


def spin_sum(channels: dict[str, np.ndarray]) -> np.ndarray:
    """Total (spin-degenerate) density: up + down for spin-polarised data, else the one channel (paper app. B)."""
    total = np.asarray(channels["up"], dtype=float)
    if channels.get("down") is not None:
        total = total + np.asarray(channels["down"], dtype=float)
    return total


def window_covered(energies: np.ndarray, efermi: float, grid: EnergyGrid, tol: float = 1e-6) -> bool:
    return bool(energies[0] <= efermi + grid.emin + tol and energies[-1] >= efermi + grid.emax - tol)


def check_resample(mode: str) -> str:
    """`mode` if it is one of RESAMPLE_MODES, else a ConfigError listing them."""
    return choice(mode, RESAMPLE_MODES, "preprocess.resample")


def _pchip_window(energies: np.ndarray, densities: np.ndarray, lo_e: float, hi_e: float) -> PchipInterpolator:
    """The PCHIP interpolant of the raw points, built on the slice that determines it inside [lo_e, hi_e]."""
    lo = max(int(np.searchsorted(energies, lo_e, side="right")) - 1 - _MARGIN, 0)
    hi = min(int(np.searchsorted(energies, hi_e, side="left")) + 1 + _MARGIN, len(energies))
    return PchipInterpolator(energies[lo:hi], densities[lo:hi], axis=0)


def bin_average(energies: np.ndarray, densities: np.ndarray, efermi: float, grid: EnergyGrid) -> np.ndarray:
    """Average of the PCHIP interpolant of `densities` over each grid bin, with E_F at the grid's zero.

    `energies` (P,) absolute and increasing; `densities` (P,) or (P, K) for K spectra at once.
    Returns (T,) or (K, T). The window must be covered (see `window_covered`).
    """
    energies = np.asarray(energies, dtype=float)
    densities = np.asarray(densities, dtype=float)
    edges = grid.edges + efermi
    interp = _pchip_window(energies, densities, edges[0], edges[-1])
    x = interp.x
    # clip the evaluation points onto the knots so that a window end equal to the last knot (within
    # round-off) is not an extrapolation
    cumulative = interp.antiderivative()(np.clip(edges, x[0], x[-1]))
    values = np.diff(cumulative, axis=0) / grid.de
    return values.T if values.ndim == 2 else values


def bin_centre_values(energies: np.ndarray, densities: np.ndarray, efermi: float, grid: EnergyGrid) -> np.ndarray:
    """The PCHIP interpolant of `densities` at each grid bin centre (the paper's interpolation, appendix B).

    Same arguments and shapes as `bin_average`. PCHIP does not overshoot, so the values stay >= 0
    for non-negative data.
    """
    energies = np.asarray(energies, dtype=float)
    densities = np.asarray(densities, dtype=float)
    centres = grid.centers + efermi
    interp = _pchip_window(energies, densities, grid.edges[0] + efermi, grid.edges[-1] + efermi)
    values = interp(centres)
    return values.T if values.ndim == 2 else values


def resample(
    energies: np.ndarray, densities: np.ndarray, efermi: float, grid: EnergyGrid, mode: str = DEFAULT_RESAMPLE
) -> np.ndarray:
    """Raw spectra onto the grid by `mode` (`interpolate`: `bin_centre_values`; `average`: `bin_average`)."""
    check_resample(mode)
    fn = bin_centre_values if mode == INTERPOLATE else bin_average
    return fn(energies, densities, efermi, grid)


def grid_spectra(
    energies: np.ndarray,
    efermi: float,
    total: dict[str, np.ndarray],
    elements: dict[str, dict[str, np.ndarray]],
    grid: EnergyGrid,
    mode: str = DEFAULT_RESAMPLE,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Spin-summed total DOS and per-element EPDOS on the grid, resampled (`mode`) in one PCHIP call."""
    symbols = list(elements)
    columns = [spin_sum(total)] + [spin_sum(elements[s]) for s in symbols]
    gridded = resample(energies, np.stack(columns, axis=1), efermi, grid, mode)
    return gridded[0], {s: gridded[i + 1] for i, s in enumerate(symbols)}


def element_residual(dos: np.ndarray, epdos_sum: np.ndarray) -> float:
    """How far the element sum departs from the total: integral |sum_e g_e - g| dE / integral g dE over the window.

    VASP projects onto spheres around the atoms, so the element sum usually falls short of the total
    (interstitial charge); this number records that per material instead of hiding it.
    """
    return float(np.abs(epdos_sum - dos).sum() / dos.sum())
