"""The raw record: what every `fetch` source writes and what `preprocess` reads.

All three sources (`embedded`, `mp`, `files`) emit the same shape, so preprocess and
everything after it treat them alike. One record per material, stored as
`<raw_dir>/records/<id>.dosrec` (ids are made filename-safe by `record_filename`).

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

File format (`.dosrec`, issue 14): the magic `DOSREC1\n`, a little-endian uint64 header length, a
JSON header (every scalar field, the structure dict, meta, and the name and length of each array),
padded to 8 bytes, then the arrays as raw little-endian float64, one after the other. Reading is a
JSON parse of a few kB and `numpy.frombuffer`: the gzipped JSON records it replaces spent ~45 % of
preprocess time in gunzip and float parsing. float64 is kept, so values are bit-identical to the
JSON records (whose floats round-trip exactly). Legacy `<id>.json.gz` records are still read.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import numpy as np

from dosforge.io import atomic_path, json_default, loads_json, read_json

SOURCES = ("embedded", "mp", "files")
SPECTRA = ("electron", "phonon")
RECORD_SUFFIX = ".dosrec"
LEGACY_SUFFIX = ".json.gz"
MAGIC = b"DOSREC1\n"
_ARRAY_FIELDS = ("energies", "frequencies", "total", "elements")


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


def safe_name(record_id: str) -> str:
    """`record_id` with every character outside [A-Za-z0-9._-] replaced by `_` (a file name, no suffix)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", record_id)


def record_filename(record_id: str) -> str:
    return safe_name(record_id) + RECORD_SUFFIX


def record_path(raw_dir: str | Path, record_id: str) -> Path:
    """The record file of `record_id` under `<raw_dir>/records/`: `.dosrec`, else a legacy `.json.gz` if present."""
    records = Path(raw_dir) / "records"
    path = records / record_filename(record_id)
    legacy = records / (safe_name(record_id) + LEGACY_SUFFIX)
    return legacy if not path.exists() and legacy.exists() else path


def record_id_from_path(path: str | Path) -> str:
    """The file-name stem of a record file (the id when the record itself cannot be read)."""
    name = Path(path).name
    for suffix in (RECORD_SUFFIX, LEGACY_SUFFIX):
        name = name.removesuffix(suffix)
    return name


def write_record(raw_dir: str | Path, record: RawRecord | PhononRecord) -> Path:
    """Write one record atomically under `<raw_dir>/records/` in the `.dosrec` format."""
    path = Path(raw_dir) / "records" / record_filename(record.id)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(encode_record(record))
    return path


def _named_arrays(record: RawRecord | PhononRecord) -> tuple[list, list]:
    """The record's arrays and their names: electron ["total", spin] / ["elements", el, spin], phonon "total" /
    ["elements", el] (one channel)."""
    if isinstance(record, PhononRecord):
        names, arrays = ["frequencies", "total"], [record.frequencies, record.total]
        for el, values in (record.elements or {}).items():
            names.append(["elements", el])
            arrays.append(values)
        return names, arrays
    names, arrays = ["energies"], [record.energies]
    for spin, values in record.total.items():
        names.append(["total", spin])
        arrays.append(values)
    for el, spins in (record.elements or {}).items():
        for spin, values in spins.items():
            names.append(["elements", el, spin])
            arrays.append(values)
    return names, arrays


def encode_record(record: RawRecord | PhononRecord) -> bytes:
    fields = {f.name: getattr(record, f.name) for f in dataclass_fields(record) if f.name not in _ARRAY_FIELDS}
    names, arrays = _named_arrays(record)
    arrays = [np.ascontiguousarray(a, dtype="<f8").ravel() for a in arrays]
    header = {
        "fields": fields,
        "has_elements": record.elements is not None,
        "arrays": [[name, len(a)] for name, a in zip(names, arrays, strict=True)],
    }
    # the json module (not orjson) writes NaN/Infinity, which a bad record may hold in a scalar
    text = json.dumps(header, default=json_default).encode()
    text += b" " * (-len(text) % 8)
    return b"".join([MAGIC, struct.pack("<Q", len(text)), text, *(a.tobytes() for a in arrays)])


def decode_record(data: bytes) -> RawRecord | PhononRecord:
    if data[: len(MAGIC)] != MAGIC:
        raise ValueError(f"not a {RECORD_SUFFIX} record (bad magic {data[: len(MAGIC)]!r})")
    start = len(MAGIC) + 8
    (n,) = struct.unpack_from("<Q", data, len(MAGIC))
    header = loads_json(data[start : start + n])
    # a bytearray copy: the arrays are writable like the ones parsed from JSON
    blob = np.frombuffer(bytearray(data[start + n :]), dtype="<f8")
    if sum(length for _, length in header["arrays"]) != len(blob):
        raise ValueError("record truncated: the arrays are shorter than the header says")
    values, offset = {}, 0
    for name, length in header["arrays"]:
        values[json.dumps(name)] = blob[offset : offset + length].astype(float, copy=False)
        offset += length
    fields = header["fields"]
    if fields.get("spectrum", "electron") == "phonon":
        elements = {json.loads(k)[1]: v for k, v in values.items() if k.startswith('["elements"')}
        return PhononRecord(
            frequencies=values['"frequencies"'],
            total=values['"total"'],
            elements=elements if header["has_elements"] else None,
            **fields,
        )
    total, elements = {}, {} if header["has_elements"] else None
    for key, v in values.items():
        name = json.loads(key)
        if name == "energies":
            continue
        if name[0] == "total":
            total[name[1]] = v
        else:
            elements.setdefault(name[1], {})[name[2]] = v
    return RawRecord(energies=values['"energies"'], total=total, elements=elements, **fields)


def read_record(path: str | Path) -> RawRecord | PhononRecord:
    path = Path(path)
    if path.name.endswith(LEGACY_SUFFIX):
        return record_from_dict(read_json(path))
    return decode_record(path.read_bytes())


def iter_record_paths(raw_dir: str | Path) -> list[Path]:
    """Every record file under `<raw_dir>/records/`, sorted by name (`.dosrec`, and legacy `.json.gz`)."""
    records = Path(raw_dir) / "records"
    return sorted([*records.glob("*" + RECORD_SUFFIX), *records.glob("*" + LEGACY_SUFFIX)])
