"""Processed data read on demand: the heavy per-material arrays stay in the HDF5 shards (issue 14).

`load_processed(path, lazy=True)` (or automatically above `EAGER_LIMIT_BYTES` of shards) returns the same
`ProcessedData` with spectra, EPDOS, coordinates and graph arrays replaced by `ShardedArray`s: row reads go to
the shard that holds them, so memory grows with the per-material metadata (ids, scalars, pointers, atomic numbers,
lattices: about 100 bytes per material plus 8 per atom) and not with the spectra and graphs (about 20 kB per material).
`ProcessedData.sample` and the training/inference code index these arrays exactly as numpy arrays (an int, a
contiguous slice, or an int array of rows), and get the same values, so a lazily loaded run trains bitwise like an
eager one (tests/test_shards_lazy.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

EAGER_LIMIT_BYTES = int(os.environ.get("DOSFORGE_EAGER_LIMIT_BYTES", 4 << 30))  # above this, load lazily

LAZY_FIELDS = ("dos", "epdos", "epdos_z", "cart_coords")  # plus every graph/<key>/data


class ShardedArray:
    """Rows along axis 0 concatenated over one dataset in each shard, read when indexed.

    Supports `a[i]`, `a[lo:hi]` (step 1), `a[int_array]` and `np.asarray(a)` (reads everything), which is
    all the processed-data readers use. HDF5 files are opened on first use in each process, so the object
    can cross a fork (DataLoader workers) without sharing a file handle.
    """

    def __init__(self, files: list[Path], name: str, lengths: list[int], dtype, tail_shape: tuple[int, ...]):
        self.files, self.name = list(files), name
        self.offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        self.dtype, self.shape = np.dtype(dtype), (int(self.offsets[-1]), *tail_shape)
        self._handles: dict[int, h5py.Dataset] = {}
        self._pid = None

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _dataset(self, k: int) -> h5py.Dataset:
        if self._pid != os.getpid():  # a forked worker opens its own handles
            self._handles, self._pid = {}, os.getpid()
        if k not in self._handles:
            self._handles[k] = h5py.File(self.files[k], "r")[self.name]
        return self._handles[k]

    def _read(self, lo: int, hi: int) -> np.ndarray:
        """Rows [lo, hi) of the concatenation, possibly spanning shards."""
        parts = []
        k = int(np.searchsorted(self.offsets, lo, side="right")) - 1
        while lo < hi:
            end = min(hi, int(self.offsets[k + 1]))
            base = int(self.offsets[k])
            parts.append(self._dataset(k)[lo - base : end - base])
            lo, k = end, k + 1
        if not parts:
            return np.zeros((0, *self.shape[1:]), self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __getitem__(self, key):
        n = self.shape[0]
        if isinstance(key, (int, np.integer)):
            i = int(key) + (n if key < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {key} out of range for {self.name} with {n} rows")
            return self._read(i, i + 1)[0]
        if isinstance(key, slice):
            lo, hi, step = key.indices(n)
            if step != 1:
                raise IndexError(f"{self.name}: only step-1 slices are supported")
            return self._read(lo, max(lo, hi))
        rows = np.asarray(key)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        for j, i in enumerate(rows.tolist()):  # row by row: h5py fancy indexing needs sorted unique rows
            out[j] = self[i]
        return out

    def __array__(self, dtype=None, copy=None):
        full = self._read(0, self.shape[0])
        return full.astype(dtype) if dtype is not None else full

    def __getstate__(self):  # pickling (spawned workers) carries paths, never open handles
        return dict(self.__dict__, _handles={}, _pid=None)


def lazy_parts(files: list[Path]) -> dict:
    """{"eager": one dict per shard with every field except the heavy ones (graph: {key: (None, ptr)}),
    "arrays": a `ShardedArray` spanning all shards for each heavy field and each `graph/<key>/data`}."""
    eager: list[dict] = []
    lengths: dict[str, list[int]] = {}
    shapes: dict[str, tuple] = {}
    for file in files:
        with h5py.File(file, "r") as f:
            part = {k: f[k][()] for k in f if k != "graph" and k not in LAZY_FIELDS}
            part["graph"] = {k: (None, f[f"graph/{k}/ptr"][()]) for k in f.get("graph", {})}
            heavy = {k: f[k] for k in LAZY_FIELDS}
            heavy.update({f"graph/{k}/data": f[f"graph/{k}/data"] for k in f.get("graph", {})})
            for name, ds in heavy.items():
                lengths.setdefault(name, []).append(int(ds.shape[0]))
                shapes[name] = (ds.dtype, tuple(ds.shape[1:]))
        eager.append(part)
    arrays = {name: ShardedArray(files, name, lengths[name], *shapes[name]) for name in lengths}
    return {"eager": eager, "arrays": arrays}
