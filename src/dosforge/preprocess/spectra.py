"""Spin summation, Fermi alignment and PCHIP onto the project grid (paper section 4.1 and appendix B).

PCHIP (Fritsch & Carlson) as the paper prescribes: it is monotone on monotone data and does not
overshoot, so a non-negative DOS stays non-negative. `pchip` computes it for all of a material's
spectra at once, bitwise as scipy's `PchipInterpolator` would (and did here before issue 14). What a
bin holds is `preprocess.resample` (`RESAMPLE_MODES`):

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

from dosforge.config import choice
from dosforge.grid import EnergyGrid
from dosforge.preprocess import pchip

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


def _window(energies: np.ndarray, edges: np.ndarray, efermi: float) -> slice:
    """The raw points that determine the PCHIP interpolant over the grid (`edges` relative to E_F), plus
    `_MARGIN` each side."""
    lo = max(int(np.searchsorted(energies, edges[0] + efermi, side="right")) - 1 - _MARGIN, 0)
    hi = min(int(np.searchsorted(energies, edges[-1] + efermi, side="left")) + 1 + _MARGIN, len(energies))
    return slice(lo, hi)


def _on_grid(x: np.ndarray, rows: np.ndarray, edges: np.ndarray, efermi: float, de: float, mode: str) -> np.ndarray:
    """(K, P) spectra on the window's knots `x` -> (K, T) on the grid (`edges` relative to E_F), by `mode`."""
    if mode == INTERPOLATE:
        return pchip.evaluate(x, rows, 0.5 * (edges[1:] + edges[:-1]) + efermi)  # grid.centers + E_F
    # clip the edges onto the knots so that a window end equal to the last knot (within round-off) is not
    # an extrapolation
    cumulative = pchip.antiderivative(x, rows, np.clip(edges + efermi, x[0], x[-1]))
    return np.diff(cumulative, axis=1) / de


def _resample_array(energies, densities, efermi: float, grid: EnergyGrid, mode: str) -> np.ndarray:
    energies = np.asarray(energies, dtype=float)
    densities = np.asarray(densities, dtype=float)
    edges = grid.edges  # once: a grid recomputes its edges (and centres) on every access
    w = _window(energies, edges, efermi)
    rows = densities[w].T if densities.ndim == 2 else densities[None, w]
    values = _on_grid(energies[w], rows, edges, efermi, grid.de, mode)
    return values if densities.ndim == 2 else values[0]


def bin_average(energies: np.ndarray, densities: np.ndarray, efermi: float, grid: EnergyGrid) -> np.ndarray:
    """Average of the PCHIP interpolant of `densities` over each grid bin, with E_F at the grid's zero.

    `energies` (P,) absolute and increasing; `densities` (P,) or (P, K) for K spectra at once.
    Returns (T,) or (K, T). The window must be covered (see `window_covered`).
    """
    return _resample_array(energies, densities, efermi, grid, AVERAGE)


def bin_centre_values(energies: np.ndarray, densities: np.ndarray, efermi: float, grid: EnergyGrid) -> np.ndarray:
    """The PCHIP interpolant of `densities` at each grid bin centre (the paper's interpolation, appendix B).

    Same arguments and shapes as `bin_average`. PCHIP does not overshoot, so the values stay >= 0
    for non-negative data.
    """
    return _resample_array(energies, densities, efermi, grid, INTERPOLATE)


def resample(
    energies: np.ndarray, densities: np.ndarray, efermi: float, grid: EnergyGrid, mode: str = DEFAULT_RESAMPLE
) -> np.ndarray:
    """Raw spectra onto the grid by `mode` (`interpolate`: `bin_centre_values`; `average`: `bin_average`)."""
    return _resample_array(energies, densities, efermi, grid, check_resample(mode))


def grid_spectra(
    energies: np.ndarray,
    efermi: float,
    total: dict[str, np.ndarray],
    elements: dict[str, dict[str, np.ndarray]],
    grid: EnergyGrid,
    mode: str = DEFAULT_RESAMPLE,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Spin-summed total DOS and per-element EPDOS on the grid, resampled (`mode`) in one PCHIP call.

    Returns the total (T,) and {element: (T,)}, rows of one (1 + elements, T) array.
    """
    check_resample(mode)
    energies = np.asarray(energies, dtype=float)
    edges = grid.edges
    w = _window(energies, edges, efermi)
    channels = [total] + [elements[s] for s in elements]
    # spin-summed on the window only: the sum is elementwise, so the values are those of `spin_sum`
    rows = np.empty((len(channels), w.stop - w.start))
    for row, spins in zip(rows, channels, strict=True):
        up = np.asarray(spins["up"], dtype=float)[w]
        if spins.get("down") is not None:
            np.add(up, np.asarray(spins["down"], dtype=float)[w], out=row)
        else:
            row[:] = up
    gridded = _on_grid(energies[w], rows, edges, efermi, grid.de, mode)
    return gridded[0], dict(zip(elements, gridded[1:], strict=True))


def element_residual(dos: np.ndarray, epdos_sum: np.ndarray) -> float:
    """How far the element sum departs from the total: integral |sum_e g_e - g| dE / integral g dE over the window.

    VASP projects onto spheres around the atoms, so the element sum usually falls short of the total
    (interstitial charge); this number records that per material instead of hiding it.
    """
    return float(np.abs(epdos_sum - dos).sum() / dos.sum())
