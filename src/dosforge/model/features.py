"""Input features of the encoder: a per-element property table and radial basis expansions.

Atom features (`element_feature_table(kind)`), looked up by Z and fed through a Linear layer as the
published iComFormer does; the table is a registered buffer of the encoder, so a checkpoint carries it.
- `cgcnn`: the published iComFormer's input, CGCNN's 92-d one-hot element descriptors (Xie & Grossman
  2018; iComFormer reads them through jarvis-tools), vendored from the matminer wheel with provenance
  and licences in `dosforge/data/cgcnn/` (no matminer or jarvis dependency); the default (`model.atom_features`).
- `pymatgen`: our own table from pymatgen element data (standardised continuous properties plus a
  one-hot of the block), the first version's input, kept as an option.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dosforge.config import choice

MAX_Z = 103
ATOM_FEATURES = ("cgcnn", "pymatgen")  # kinds of element_feature_table; the first is the default
CGCNN_TABLE = Path(__file__).resolve().parents[1] / "data" / "cgcnn" / "cgcnn_atom_features.json"
CGCNN_DIM = 92
_BLOCKS = ("s", "p", "d", "f")


def element_feature_table(kind: str = "cgcnn") -> np.ndarray:
    """float32 (MAX_Z + 1, F): row Z holds element Z's features; row 0 is unused (zeros).

    `kind` is one of ATOM_FEATURES (an unknown one is a ConfigError listing them):
    - `pymatgen` (F = 30): see `pymatgen_feature_table`.
    - `cgcnn` (F = 92): see `cgcnn_feature_table`.
    Each table is built once per process and a fresh copy returned, so a caller that writes into it
    (e.g. `load_state_dict` into a buffer made with `torch.from_numpy`) never alters the cached one.
    """
    choice(kind, ATOM_FEATURES, "model atom_features")
    return _cached_table(kind).copy()


@cache
def _cached_table(kind: str) -> np.ndarray:
    return cgcnn_feature_table() if kind == "cgcnn" else pymatgen_feature_table()


def cgcnn_feature_table(path: str | Path = CGCNN_TABLE) -> np.ndarray:
    """float32 (MAX_Z + 1, 92): CGCNN's one-hot element descriptors, values 0 or 1.

    The JSON holds elements 1-100; rows 0 and 101-MAX_Z (103) are zeros, so an element beyond the
    table enters the encoder as the zero vector (only the Linear layer's bias), as CGCNN itself has no
    row for it. Within the table an unknown property leaves its bins at 0 (provenance: dosforge/data/cgcnn).
    """
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    table = np.zeros((MAX_Z + 1, CGCNN_DIM), dtype=np.float32)
    for key, row in raw.items():
        z = int(key)
        if len(row) != CGCNN_DIM:
            raise ValueError(f"{path}: element {z} has {len(row)} features, expected {CGCNN_DIM}")
        if 1 <= z <= MAX_Z:
            table[z] = row
    return table


def pymatgen_feature_table() -> np.ndarray:
    """float32 (MAX_Z + 1, 30): row Z holds element Z's features; row 0 is unused (zeros).

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
