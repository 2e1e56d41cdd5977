"""The raw record: what every `fetch` source writes and what `preprocess` reads.

All three sources (`embedded`, `mp`, `files`) emit the same shape, so preprocess and
everything after it treat them alike. One record per material, stored as
`<raw_dir>/records/<id>.json.gz` (ids are made filename-safe by `record_filename`).

Energies are absolute (eV, not Fermi-aligned) and strictly increasing; densities are
states/eV per cell, one array per spin channel ("up", and "down" when spin-polarised; both
positive). `elements` maps each element symbol to its per-spin densities (the sum over that
element's sites and orbitals), or is None when the source had no projections.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dosforge.io import read_json, write_json

SOURCES = ("embedded", "mp", "files")


@dataclass
class RawRecord:
    id: str
    source: str
    synthetic: bool
    structure: dict  # pymatgen Structure.as_dict()
    efermi: float  # absolute, eV
    energies: np.ndarray  # (P,) absolute eV, increasing
    total: dict[str, np.ndarray]  # {"up": (P,), optional "down": (P,)}
    elements: dict[str, dict[str, np.ndarray]] | None  # {"Si": {"up": (P,), ...}}
    band_gap: float | None = None  # eV
    gap_origin: str | None = None  # "dft" (reported by the calculation) | "dos" (read off the DOS) | "tb"
    is_metal: bool | None = None
    magnetic_ordering: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # provenance: file, generator version, frozen params

    def to_dict(self) -> dict:
        d = asdict(self)
        d["energies"] = np.asarray(self.energies, dtype=float).tolist()
        d["total"] = {s: np.asarray(v, dtype=float).tolist() for s, v in self.total.items()}
        if self.elements is not None:
            d["elements"] = {
                el: {s: np.asarray(v, dtype=float).tolist() for s, v in spins.items()}
                for el, spins in self.elements.items()
            }
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RawRecord:
        d = dict(d)
        d["energies"] = np.asarray(d["energies"], dtype=float)
        d["total"] = {s: np.asarray(v, dtype=float) for s, v in d["total"].items()}
        if d.get("elements") is not None:
            d["elements"] = {
                el: {s: np.asarray(v, dtype=float) for s, v in spins.items()} for el, spins in d["elements"].items()
            }
        return cls(**d)


def record_filename(record_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", record_id) + ".json.gz"


def write_record(raw_dir: str | Path, record: RawRecord) -> Path:
    """Write one record atomically under `<raw_dir>/records/`."""
    path = Path(raw_dir) / "records" / record_filename(record.id)
    write_json(path, record.to_dict(), indent=None)
    return path


def read_record(path: str | Path) -> RawRecord:
    return RawRecord.from_dict(read_json(path))


def iter_record_paths(raw_dir: str | Path) -> list[Path]:
    return sorted((Path(raw_dir) / "records").glob("*.json.gz"))
