"""Model predictions on a set of materials, in original units, with the truth where it is known.

Written by training (test split of each model) and read by evaluation; `dosforge predict`
returns the same shape without truth. Arrays missing for a model's tasks are NaN-filled.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import h5py
import numpy as np

from dosforge.io import atomic_path


@dataclass
class Predictions:
    ids: list[str]
    formula: list[str]
    dos_pred: np.ndarray  # (N, T) states/eV
    dos_true: np.ndarray  # (N, T), NaN when unknown
    epdos_pred: np.ndarray  # (M, T)
    epdos_true: np.ndarray  # (M, T)
    epdos_ptr: np.ndarray  # (N+1,) int64
    epdos_z: np.ndarray  # (M,) int64
    fermi_pred: np.ndarray  # (N,) eV, absolute
    fermi_true: np.ndarray
    gap_pred: np.ndarray  # (N,) eV, from the model's gap head (extract/mlp/pool)
    gap_true: np.ndarray
    is_metal: np.ndarray  # (N,) bool, from the true gap (gap_true == 0); False when unknown

    _STRINGS = ("ids", "formula")

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, path: str | Path, attrs: dict | None = None) -> None:
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            for fld in fields(self):
                value = getattr(self, fld.name)
                if fld.name in self._STRINGS:
                    f.create_dataset(fld.name, data=np.array(value, dtype=object), dtype=h5py.string_dtype())
                else:
                    f.create_dataset(fld.name, data=np.asarray(value), compression="gzip")
            for k, v in (attrs or {}).items():
                f.attrs[k] = v

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        with h5py.File(path, "r") as f:
            kw = {}
            for fld in fields(cls):
                if fld.name in cls._STRINGS:
                    kw[fld.name] = [s.decode() if isinstance(s, bytes) else str(s) for s in f[fld.name][()]]
                else:
                    kw[fld.name] = f[fld.name][()]
        return cls(**kw)

    @staticmethod
    def load_attrs(path: str | Path) -> dict:
        with h5py.File(path, "r") as f:
            return dict(f.attrs)
