"""The fixed energy grid of DESIGN.md: `bins` bins over [emin, emax] eV relative to E_F.

A bin value (states/eV) is, by `preprocess.resample` (dosforge.preprocess.spectra), the PCHIP
curve at the bin centre (`interpolate`, the default, the paper's) or its average over the bin
(`average`, which conserves the number of states exactly: sum(values) * dE equals the integral over
the window). Bins 0..bins/2-1 lie below E_F and bins/2..bins-1 above, so E_F sits exactly on the
edge between bins 127 and 128 and the centres are E_F +- dE/2, +- 3 dE/2, ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# What one bin holds, per `preprocess.resample` mode (written to the processed manifest and to prediction metadata)
BIN_VALUES = {
    "interpolate": "the PCHIP interpolant at the bin centre (states/eV per cell)",
    "average": "average of the PCHIP interpolant over the bin (states/eV per cell)",
}


@dataclass(frozen=True)
class EnergyGrid:
    emin: float = -10.0
    emax: float = 10.0
    bins: int = 256

    def __post_init__(self):
        if not self.emax > self.emin:
            raise ValueError(f"grid.emax ({self.emax}) must be greater than grid.emin ({self.emin})")
        if self.bins < 2 or self.bins % 2:
            raise ValueError(f"grid.bins must be an even number >= 2, got {self.bins}")

    @property
    def de(self) -> float:
        """Bin width in eV (20/256 = 0.078125 eV for the default grid)."""
        return (self.emax - self.emin) / self.bins

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.emin, self.emax, self.bins + 1)

    @property
    def centers(self) -> np.ndarray:
        e = self.edges
        return 0.5 * (e[1:] + e[:-1])

    @property
    def fermi_index(self) -> int:
        """Index of the first bin above E_F (128 for the default grid)."""
        return self.bins // 2

    @classmethod
    def from_params(cls, params: dict) -> EnergyGrid:
        g = params.get("grid", params)
        return cls(float(g.get("emin", -10.0)), float(g.get("emax", 10.0)), int(g.get("bins", 256)))

    def as_dict(self) -> dict:
        return {"emin": self.emin, "emax": self.emax, "bins": self.bins, "de": self.de}
