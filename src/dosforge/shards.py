"""Processed data on disk: HDF5 shards + `manifest.json`, and `load_processed` (docs/architecture.md).

A shard holds a block of materials with ragged arrays stored flat plus shard-local int64 pointers
(`epdos_ptr`, `atom_ptr`, `graph/<key>/ptr`); `load_processed` concatenates the shards and rebases
the pointers. Shards are written atomically and the manifest records each one's sha256, which the
reader checks first, so a corrupt, truncated or missing shard is an error naming the file, never
silently wrong data.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from dosforge.io import atomic_path, read_json

STRING_FIELDS = ("ids", "formula", "point_group", "source", "gap_origin")
SCALAR_FIELDS = {
    "synthetic": bool,
    "is_metal": bool,
    "efermi": np.float32,
    "gap": np.float32,
    "epdos_residual": np.float32,
}


class ShardError(RuntimeError):
    """A processed shard is missing, corrupt or truncated."""


def write_shard(path: str | Path, materials: list[dict]) -> str:
    """Write one shard atomically; return its sha256. Each material dict is as built by preprocess."""
    n = len(materials)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["n"] = n
        strings = {
            "ids": [m["id"] for m in materials],
            "formula": [m["formula"] for m in materials],
            "point_group": [m["point_group"] for m in materials],
            "source": [m["source"] for m in materials],
            "gap_origin": [m.get("gap_origin") or "" for m in materials],
        }
        for name, values in strings.items():
            f.create_dataset(name, data=np.array(values, dtype=object), dtype=h5py.string_dtype())
        for name, dtype in SCALAR_FIELDS.items():
            f.create_dataset(name, data=np.array([m[name] for m in materials], dtype=dtype))
        f.create_dataset("dos", data=np.stack([m["dos"] for m in materials]).astype(np.float32))
        f.create_dataset("lattice", data=np.stack([m["lattice"] for m in materials]).astype(np.float32))
        _ragged(f, "epdos", [m["epdos"] for m in materials], np.float32)
        f.create_dataset("epdos_z", data=np.concatenate([m["epdos_z"] for m in materials]).astype(np.int64))
        _ragged(f, "atomic_numbers", [m["atomic_numbers"] for m in materials], np.int64, ptr_name="atom_ptr")
        f.create_dataset("cart_coords", data=np.concatenate([m["cart_coords"] for m in materials]).astype(np.float32))
        keys = sorted(materials[0]["graph"]) if n else []
        for m in materials:
            if sorted(m["graph"]) != keys:
                raise ValueError(f"{m['id']}: graph keys {sorted(m['graph'])} differ from {keys}")
        for key in keys:
            group = f.create_group(f"graph/{key}")
            arrays = [np.asarray(m["graph"][key]) for m in materials]
            _ragged(group, "data", arrays, arrays[0].dtype, ptr_name="ptr")
    return sha256(path)


def _ragged(f, name: str, arrays: list[np.ndarray], dtype, ptr_name: str | None = None) -> None:
    lengths = [len(a) for a in arrays]
    ptr = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    f.create_dataset(name, data=np.concatenate(arrays).astype(dtype))
    f.create_dataset(ptr_name or f"{name}_ptr", data=ptr)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class ProcessedData:
    """All processed materials in memory (docs/architecture.md). Ragged arrays use int64 pointers of length N+1."""

    ids: list[str]
    formula: list[str]
    point_group: list[str]
    source: list[str]
    gap_origin: list[str]
    synthetic: np.ndarray
    dos: np.ndarray
    epdos: np.ndarray
    epdos_ptr: np.ndarray
    epdos_z: np.ndarray
    epdos_residual: np.ndarray
    efermi: np.ndarray
    gap: np.ndarray
    is_metal: np.ndarray
    atom_ptr: np.ndarray
    atomic_numbers: np.ndarray
    cart_coords: np.ndarray
    lattice: np.ndarray
    graph: dict[str, tuple[np.ndarray, np.ndarray]]
    manifest: dict = field(default_factory=dict)
    _index: dict[str, int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, material_id: str) -> int:
        if self._index is None:
            self._index = {m: i for i, m in enumerate(self.ids)}
        return self._index[material_id]

    def indices(self, ids) -> np.ndarray:
        """Rows of the given ids (a KeyError names an id that is not in the processed data)."""
        return np.array([self.index(m) for m in ids], dtype=np.int64)

    def sample(self, i: int) -> dict:
        a, b = self.atom_ptr[i], self.atom_ptr[i + 1]
        e, g = self.epdos_ptr[i], self.epdos_ptr[i + 1]
        return {
            "id": self.ids[i],
            "formula": self.formula[i],
            "point_group": self.point_group[i],
            "z": self.atomic_numbers[a:b],
            "cart_coords": self.cart_coords[a:b],
            "lattice": self.lattice[i],
            "graph": {k: data[ptr[i] : ptr[i + 1]] for k, (data, ptr) in self.graph.items()},
            "dos": self.dos[i],
            "epdos": self.epdos[e:g],
            "epdos_z": self.epdos_z[e:g],
            "efermi": float(self.efermi[i]),
            "gap": float(self.gap[i]),
            "is_metal": bool(self.is_metal[i]),
        }


def load_processed(path: str | Path, verify: bool = True, lazy: bool | None = None) -> ProcessedData:
    """Load every shard listed in `<path>/manifest.json`, checking sha256 sums first.

    `lazy` (None = only when the shards exceed `dosforge.shards_lazy.EAGER_LIMIT_BYTES`, 4 GiB) keeps spectra,
    EPDOS, coordinates and graph arrays in the shards and reads rows on demand (`dosforge.shards_lazy`): the same
    values, memory for the per-material metadata only."""
    from dosforge.shards_lazy import EAGER_LIMIT_BYTES, lazy_parts

    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise ShardError(f"{manifest_path} not found: run `dvc repro preprocess` first")
    manifest = read_json(manifest_path)
    files = [path / s["file"] for s in manifest["shards"]]
    if lazy is None:
        lazy = sum(f.stat().st_size for f in files if f.exists()) > EAGER_LIMIT_BYTES
    if lazy:
        for file, s in zip(files, manifest["shards"], strict=True):
            _check_shard(file, s["sha256"] if verify else None)
        try:
            loaded = lazy_parts(files)
        except (OSError, KeyError) as exc:
            raise ShardError(f"a shard under {path} cannot be read ({exc}); re-run `dvc repro preprocess`") from exc
        parts = [_strings(p, f, s["n"]) for p, f, s in zip(loaded["eager"], files, manifest["shards"], strict=True)]
        data = _with_arrays(_concat([_placeholders(p, manifest) for p in parts], manifest), loaded["arrays"])
    else:
        shards = zip(files, manifest["shards"], strict=True)
        parts = [_read_shard(f, s["sha256"] if verify else None, s["n"]) for f, s in shards]
        data = _concat(parts, manifest)
    if data.ids != manifest["ids"]:
        raise ShardError(f"{manifest_path}: the ids in the shards do not match the manifest; re-run preprocess")
    return data


def _check_shard(file: Path, expected_sha: str | None) -> None:
    if not file.exists():
        raise ShardError(f"shard {file} listed in the manifest is missing; re-run `dvc repro preprocess`")
    if expected_sha is not None and sha256(file) != expected_sha:
        raise ShardError(f"shard {file} is corrupt or truncated (sha256 differs from the manifest); re-run preprocess")


def _read_shard(file: Path, expected_sha: str | None, n: int) -> dict:
    _check_shard(file, expected_sha)
    try:
        with h5py.File(file, "r") as f:
            out = {k: f[k][()] for k in f if k != "graph"}
            out["graph"] = {k: (f[f"graph/{k}/data"][()], f[f"graph/{k}/ptr"][()]) for k in f.get("graph", {})}
    except (OSError, KeyError) as exc:
        raise ShardError(f"shard {file} cannot be read ({exc}); re-run `dvc repro preprocess`") from exc
    return _strings(out, file, n)


def _strings(out: dict, file: Path, n: int) -> dict:
    if len(out["ids"]) != n:
        raise ShardError(f"shard {file} holds {len(out['ids'])} materials, the manifest says {n}")
    for name in STRING_FIELDS:
        out[name] = [s.decode() if isinstance(s, bytes) else str(s) for s in out[name]]
    return out


def _placeholders(part: dict, manifest: dict) -> dict:
    """A lazily read part with empty stand-ins for the heavy arrays, so `_concat` assembles the eager fields."""
    T = int(manifest["grid"]["bins"])
    empty = {"dos": (0, T), "epdos": (0, T), "epdos_z": (0,), "cart_coords": (0, 3)}
    out = dict(part, **{k: np.zeros(shape, np.float32) for k, shape in empty.items()})
    out["graph"] = {k: (np.zeros(0), ptr) for k, (_, ptr) in part["graph"].items()}
    return out


def _with_arrays(data: ProcessedData, arrays: dict) -> ProcessedData:
    """`data` with its heavy fields replaced by the on-demand arrays of `dosforge.shards_lazy`."""
    graph = {k: (arrays[f"graph/{k}/data"], ptr) for k, (_, ptr) in data.graph.items()}
    heavy = {k: arrays[k] for k in ("dos", "epdos", "epdos_z", "cart_coords")}
    return dataclasses.replace(data, graph=graph, **heavy)


def _concat(parts: list[dict], manifest: dict) -> ProcessedData:
    T = int(manifest["grid"]["bins"])

    def cat(name, empty):
        arrays = [p[name] for p in parts]
        return np.concatenate(arrays) if arrays else empty

    def rebase(ptrs):
        """Concatenate per-shard pointer arrays (each starting at 0) into one over the concatenated data."""
        out, offset = [np.zeros(1, dtype=np.int64)], 0
        for p in ptrs:
            out.append(p[1:] + offset)
            offset += int(p[-1])
        return np.concatenate(out).astype(np.int64)

    def ptr(name):
        return rebase([p[name] for p in parts])

    keys = sorted(parts[0]["graph"]) if parts else []
    graph = {
        k: (np.concatenate([p["graph"][k][0] for p in parts]), rebase([p["graph"][k][1] for p in parts])) for k in keys
    }
    strings = {name: [s for p in parts for s in p[name]] for name in STRING_FIELDS}
    return ProcessedData(
        ids=strings["ids"],
        formula=strings["formula"],
        point_group=strings["point_group"],
        source=strings["source"],
        gap_origin=strings["gap_origin"],
        synthetic=cat("synthetic", np.zeros(0, bool)),
        dos=cat("dos", np.zeros((0, T), np.float32)),
        epdos=cat("epdos", np.zeros((0, T), np.float32)),
        epdos_ptr=ptr("epdos_ptr"),
        epdos_z=cat("epdos_z", np.zeros(0, np.int64)),
        epdos_residual=cat("epdos_residual", np.zeros(0, np.float32)),
        efermi=cat("efermi", np.zeros(0, np.float32)),
        gap=cat("gap", np.zeros(0, np.float32)),
        is_metal=cat("is_metal", np.zeros(0, bool)),
        atom_ptr=ptr("atom_ptr"),
        atomic_numbers=cat("atomic_numbers", np.zeros(0, np.int64)),
        cart_coords=cat("cart_coords", np.zeros((0, 3), np.float32)),
        lattice=cat("lattice", np.zeros((0, 3, 3), np.float32)),
        graph=graph,
        manifest=manifest,
    )
