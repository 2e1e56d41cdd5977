"""Input features of the encoder: a per-element property table and radial basis expansions.

Atom features: the published iComFormer feeds CGCNN's 92-d one-hot element descriptors (from jarvis)
through a Linear layer. We build the same kind of table from pymatgen element data instead (no jarvis
dependency): standardised continuous properties plus a one-hot of the block, looked up by Z and fed
through a Linear layer, as published. The table is a registered buffer, so a checkpoint carries it.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import torch
from torch import nn

MAX_Z = 103
_BLOCKS = ("s", "p", "d", "f")


@lru_cache(maxsize=1)
def element_feature_table() -> np.ndarray:
    """float32 (MAX_Z + 1, F): row Z holds element Z's features; row 0 is unused (zeros).

    Columns: period, group, Pauling electronegativity, atomic radius, first ionisation energy, electron
    affinity, atomic mass, molar volume, Mendeleev number, max/min oxidation state (each standardised over
    elements 1..MAX_Z, missing values set to the mean, i.e. 0, with a per-property missing flag), then the
    block one-hot (s, p, d, f).
    """
    from pymatgen.core import Element

    props = []
    blocks = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about missing data for some elements; handled as NaN
        for z in range(1, MAX_Z + 1):
            e = Element.from_Z(z)
            row = [
                e.row,
                e.group,
                e.X,
                e.atomic_radius,
                e.ionization_energy,
                e.electron_affinity,
                e.atomic_mass,
                e.molar_volume,
                e.mendeleev_no,
                e.max_oxidation_state,
                e.min_oxidation_state,
            ]
            props.append([np.nan if v is None else float(v) for v in row])
            blocks.append([float(e.block == b) for b in _BLOCKS])
    props = np.asarray(props, dtype=np.float64)
    missing = np.isnan(props)
    mean = np.nanmean(props, axis=0)
    std = np.nanstd(props, axis=0)
    std[std == 0] = 1.0
    scaled = np.where(missing, 0.0, (props - mean) / std)
    table = np.concatenate([scaled, missing.astype(float), np.asarray(blocks)], axis=1)
    return np.concatenate([np.zeros((1, table.shape[1])), table], axis=0).astype(np.float32)


class RBFExpansion(nn.Module):
    """Gaussian basis exp(-gamma (x - c_k)^2), evenly spaced centres, gamma = 1 / spacing (published ComFormer)."""

    def __init__(self, vmin: float, vmax: float, bins: int):
        super().__init__()
        self.register_buffer("centers", torch.linspace(vmin, vmax, bins))
        spacing = (vmax - vmin) / max(bins - 1, 1)
        self.gamma = 1.0 / spacing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.gamma * (x.unsqueeze(-1) - self.centers) ** 2)
