"""Helpers for the model tests: a tiny config and `ProcessedData.sample`-shaped dicts (synthetic labels)."""

import numpy as np
from pymatgen.core import Structure

from dosforge.graph import build_graph
from dosforge.model import ModelConfig

T = 256
# A tiny model: every part of the paper's design, small widths, so tests run in seconds on 2 cores.
TINY = {
    "encoder": {"d": 32, "rbf_bins": 16, "angle_bins": 16},
    "decoder": {"heads": 2, "head_dim": 16, "n_patches": 32},
}


def tiny_config(**kw) -> ModelConfig:
    return ModelConfig(size="small", encoder=TINY["encoder"], decoder=TINY["decoder"], **kw)


def make_sample(structure: Structure, mid: str, seed: int = 0, labels: bool = True) -> dict:
    """A `ProcessedData.sample`-shaped dict; spectra are smooth synthetic curves (not physics)."""
    rng = np.random.default_rng(seed)
    uz = np.unique(structure.atomic_numbers)
    e = np.linspace(-10, 10, T, endpoint=False) + 10 / T

    def spectrum():
        centres, widths = rng.uniform(-9, 9, 3), rng.uniform(0.5, 2.0, 3)
        return np.sum(np.exp(-(((e[:, None] - centres) / widths) ** 2)), axis=1).astype(np.float32)

    sample = {
        "id": mid,
        "z": np.asarray(structure.atomic_numbers, dtype=np.int64),
        "cart_coords": structure.cart_coords.astype(np.float32),
        "lattice": structure.lattice.matrix.astype(np.float32),
        "graph": build_graph(structure),
    }
    if labels:
        epdos = np.stack([spectrum() for _ in uz])
        sample.update(
            dos=epdos.sum(0), epdos=epdos, epdos_z=uz, efermi=float(rng.normal()), gap=float(rng.uniform(0, 2))
        )
    return sample
