"""Normalisation statistics from the training split only (paper appendix B, DESIGN.md data contract).

Spectra are clipped at the training 99.9th percentile before the mean and standard deviation are
taken, and every normalisation clips at that value first: one global (clip, mean, std) for the DOS,
one per element (by Z) for the EPDOS; E_F and E_g are standardised with the training mean and std.
Denormalising does not undo the clip (the clipped values are what the model was trained on).

An element that never occurs in the training split has no statistics of its own; it falls back to
the statistics of all training EPDOS rows together (`epdos_default`, an additive key beside `epdos`).
Works on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dosforge.io import read_json, write_json

MIN_STD = 1e-6  # a constant training spectrum would otherwise divide by zero
N_Z = 119


def _stats(values: np.ndarray, percentile: float) -> dict:
    values = np.asarray(values, dtype=np.float64).ravel()
    clip = float(np.percentile(values, percentile))
    clipped = np.minimum(values, clip)
    std = float(max(clipped.std(), MIN_STD))
    return {"clip": clip, "mean": float(clipped.mean()), "std": std, "n": int(values.size)}


class Normalizer:
    def __init__(self, stats: dict):
        self.stats = stats
        default = stats["epdos_default"]
        table = np.tile([default["clip"], default["mean"], default["std"]], (N_Z, 1))
        for z, s in stats["epdos"].items():
            table[int(z)] = [s["clip"], s["mean"], s["std"]]
        self._epdos_table = table  # (119, 3): clip, mean, std by Z

    @classmethod
    def fit(cls, data, train_ids, percentile: float = 99.9) -> Normalizer:
        """Statistics over the materials in `train_ids` of a `ProcessedData`."""
        rows = np.sort(data.indices(train_ids))
        if rows.size == 0:
            raise ValueError("the training split is empty: no normalisation statistics can be computed")
        epdos_rows = np.concatenate([np.arange(data.epdos_ptr[i], data.epdos_ptr[i + 1]) for i in rows])
        epdos, epdos_z = data.epdos[epdos_rows], data.epdos_z[epdos_rows]
        stats = {
            "percentile": percentile,
            "n_train": int(rows.size),
            "dos": _stats(data.dos[rows], percentile),
            "epdos": {str(int(z)): _stats(epdos[epdos_z == z], percentile) for z in np.unique(epdos_z)},
            "epdos_default": _stats(epdos, percentile),
            "fermi": _moments(data.efermi[rows]),
            "gap": _moments(data.gap[rows]),
        }
        return cls(stats)

    def to_json(self, path: str | Path) -> None:
        write_json(path, self.stats)

    @classmethod
    def from_json(cls, path: str | Path) -> Normalizer:
        return cls(read_json(path))

    # spectra -------------------------------------------------------------------------------
    def norm_dos(self, x):
        s = self.stats["dos"]
        return (_clip_max(x, s["clip"]) - s["mean"]) / s["std"]

    def denorm_dos(self, x):
        s = self.stats["dos"]
        return x * s["std"] + s["mean"]

    def norm_epdos(self, x, z):
        """`x` (G, T) rows of EPDOS, `z` (G,) atomic numbers: each row with its element's statistics."""
        clip, mean, std = self._per_row(x, z)
        return (_clip_max(x, clip) - mean) / std

    def denorm_epdos(self, x, z):
        _clip, mean, std = self._per_row(x, z)
        return x * std + mean

    def _per_row(self, x, z):
        z = np.asarray(z.cpu() if hasattr(z, "cpu") else z, dtype=np.int64)
        cols = self._epdos_table[z]  # (G, 3)
        if hasattr(x, "new_tensor"):  # torch: same device and dtype as x
            cols = x.new_tensor(cols)
        return cols[:, 0:1], cols[:, 1:2], cols[:, 2:3]

    # scalars -------------------------------------------------------------------------------
    def norm_fermi(self, x):
        return (x - self.stats["fermi"]["mean"]) / self.stats["fermi"]["std"]

    def denorm_fermi(self, x):
        return x * self.stats["fermi"]["std"] + self.stats["fermi"]["mean"]

    def norm_gap(self, x):
        return (x - self.stats["gap"]["mean"]) / self.stats["gap"]["std"]

    def denorm_gap(self, x):
        return x * self.stats["gap"]["std"] + self.stats["gap"]["mean"]


def _moments(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()), "std": float(max(values.std(), MIN_STD))}


def _clip_max(x, upper):
    if hasattr(x, "clamp"):  # torch tensor; upper may be a float or a (G, 1) tensor
        return x.clamp(max=upper) if not hasattr(upper, "shape") else x.minimum(upper)
    return np.minimum(x, upper)
