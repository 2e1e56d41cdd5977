"""The raw record: what every `fetch` source writes and what `preprocess` reads.

All three sources (`embedded`, `mp`, `files`) emit the same shape, so preprocess and
everything after it treat them alike. One record per material, stored as
`<raw_dir>/records/<id>.json.gz` (ids are made filename-safe by `record_filename`).

Energies are absolute (eV, not Fermi-aligned) and strictly increasing; densities are
states/eV per cell, one array per spin channel ("up", and "down" when spin-polarised; both
positive). `elements` maps each element symbol to its per-spin densities (the sum over that
element's sites and orbitals), or is None when the source had no projections.

Phonon records (`data.spectrum: phonon`) share the storage, the id/source/synthetic/structure/meta
fields and the validation-with-reasons of electron records, and carry `"spectrum": "phonon"`:
frequencies in cm^-1 (increasing; a few slightly negative values are the soft tail of acoustic
modes), densities in states per cm^-1 per cell (one channel, no spin; the total integrates to 3N
modes), `elements` the element-projected phonon DOS or None. Electron records carry no `spectrum`
key (absent = electron), so their files are unchanged by the phonon work.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dosforge.io import read_json, write_json

SOURCES = ("embedded", "mp", "files")
SPECTRA = ("electron", "phonon")


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


@dataclass
class PhononRecord:
    id: str
    source: str
    synthetic: bool
    structure: dict  # pymatgen Structure.as_dict() (the cell the DOS counts modes of)
    frequencies: np.ndarray  # (P,) cm^-1, increasing
    total: np.ndarray  # (P,) states per cm^-1 per cell; integral = 3 x number of sites
    elements: dict[str, np.ndarray] | None  # {"Si": (P,)}: element-projected phonon DOS, same unit
    min_frequency: float | None = None  # cm^-1, lowest mode the generator saw (imaginary modes are < 0); None = unknown
    spectrum: str = "phonon"
    frequency_unit: str = "cm^-1"
    meta: dict[str, Any] = field(default_factory=dict)  # provenance: generator versions, frozen params, file

    def to_dict(self) -> dict:
        d = asdict(self)
        d["frequencies"] = np.asarray(self.frequencies, dtype=float).tolist()
        d["total"] = np.asarray(self.total, dtype=float).tolist()
        if self.elements is not None:
            d["elements"] = {el: np.asarray(v, dtype=float).tolist() for el, v in self.elements.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PhononRecord:
        d = dict(d)
        d["frequencies"] = np.asarray(d["frequencies"], dtype=float)
        d["total"] = np.asarray(d["total"], dtype=float)
        if d.get("elements") is not None:
            d["elements"] = {el: np.asarray(v, dtype=float) for el, v in d["elements"].items()}
        return cls(**d)


def record_from_dict(d: dict) -> RawRecord | PhononRecord:
    """The record class named by the `spectrum` key (absent: an electron record)."""
    spectrum = d.get("spectrum", "electron")
    if spectrum == "phonon":
        return PhononRecord.from_dict(d)
    if spectrum != "electron":
        raise ValueError(f"record {d.get('id')!r} has spectrum={spectrum!r}; known kinds: {', '.join(SPECTRA)}")
    return RawRecord.from_dict(d)


def record_filename(record_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", record_id) + ".json.gz"


def write_record(raw_dir: str | Path, record: RawRecord | PhononRecord) -> Path:
    """Write one record atomically under `<raw_dir>/records/`."""
    path = Path(raw_dir) / "records" / record_filename(record.id)
    write_json(path, record.to_dict(), indent=None)
    return path


def read_record(path: str | Path) -> RawRecord | PhononRecord:
    return record_from_dict(read_json(path))


def iter_record_paths(raw_dir: str | Path) -> list[Path]:
    return sorted((Path(raw_dir) / "records").glob("*.json.gz"))
