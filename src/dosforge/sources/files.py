"""The `files` source: a folder of the user's own DFT results.

Reads `*vasprun*.xml[.gz|.bz2|.xz]` (pymatgen `Vasprun`; the band gap comes from the eigenvalues and
occupations, `gap_origin="dft"`) and pymatgen `CompleteDos` JSON[.gz|.bz2|.xz] (a dict, a list of
dicts, or a list of `{"data": CompleteDos}` entries as the MP DOS store returns them). A
`CompleteDos` JSON carries no band gap, so it is read off the DOS with `CompleteDos.get_gap()`
(`gap_origin="dos"`). A file that cannot be read becomes a skipped item with its reason, never an
exception that loses the rest of the folder; and every file under the folder that gave no record
is listed in the report's `unread_files` with its reason (issue 14: nothing vanishes silently):
`matched no pattern`, `in a subfolder (files.recursive: false)`, `not a DOS`, `unparseable`, or
the fetch output folder itself when it lies inside `data.path`.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
from pymatgen.electronic_structure.core import Spin
from pymatgen.electronic_structure.dos import CompleteDos
from tqdm import tqdm

from dosforge.io import read_json
from dosforge.records import RawRecord, write_record

_COMPRESSED = ("", ".gz", ".bz2", ".xz")  # what pymatgen's zopen (vasprun) and dosforge.io.read_json (JSON) open
DEFAULT_PATTERNS = tuple(f"*vasprun*.xml{c}" for c in _COMPRESSED) + tuple(f"*.json{c}" for c in _COMPRESSED)
NO_PATTERN, SUBFOLDER, NOT_A_DOS, UNPARSEABLE = (
    "matched no pattern",
    "in a subfolder (files.recursive: false)",
    "not a DOS",
    "unparseable",
)


class NotADos(ValueError):
    """A readable file that holds no density of states (e.g. a structure or a task document)."""


def fetch_files(params: dict, raw_dir: str | Path) -> dict:
    from dosforge.sources import skip

    data = params.get("data", {})
    cfg = params.get("files") or {}
    root = input_folder(data, "vasprun.xml[.gz] / CompleteDos JSON[.gz]")
    max_sites = data.get("max_sites")
    out = Path(raw_dir).resolve()  # never read our own output back when raw_dir lies inside data.path
    patterns = cfg.get("patterns", DEFAULT_PATTERNS)
    paths, unread = classify_files(root, patterns, bool(cfg.get("recursive", True)), out)
    if not paths:
        raise FileNotFoundError(
            f"no file under {root} matches files.patterns {list(patterns)} ({len(unread)} other files listed in "
            "the report); name DOS files *vasprun*.xml[.gz|.bz2|.xz] or *.json[.gz|.bz2|.xz]"
        )

    skipped, seen, written = [], set(), 0
    for path in tqdm(paths, desc="fetch files", unit="file"):
        rel = path.relative_to(root).as_posix()
        try:
            records = read_dft_file(path, record_stem(path, root))
        except Exception as exc:  # any parser failure: report it and go on with the other files
            reason = NOT_A_DOS if isinstance(exc, NotADos) else UNPARSEABLE
            detail = str(exc) if reason == NOT_A_DOS else f"{type(exc).__name__}: {exc}"
            skipped.append(skip(record_stem(path, root), reason, detail, rel))
            unread.append({"file": rel, "reason": reason, "detail": detail})
            continue
        for rec in records:
            rec.meta["file"] = rel
            if rec.id in seen:
                skipped.append(skip(rec.id, "duplicate id", "another file produced the same id", rel))
                continue
            n_sites = len(rec.structure.get("sites", []))
            if max_sites and n_sites > int(max_sites):
                skipped.append(skip(rec.id, "too many sites", f"{n_sites} > data.max_sites={max_sites}", rel))
                continue
            seen.add(rec.id)
            write_record(raw_dir, rec)
            written += 1
    unread.sort(key=lambda u: u["file"])
    counts: dict[str, int] = {}
    for u in unread:
        counts[u["reason"]] = counts.get(u["reason"], 0) + 1
    return {
        "root": str(root),
        "n_files": len(paths),
        "n_written": written,
        "skipped": skipped,
        "n_unread_files": len(unread),
        "unread_counts": dict(sorted(counts.items())),
        "unread_files": unread,
    }


def input_folder(data: dict, what: str) -> Path:
    """The folder `data.path` names, with a clear error when it is missing or not a folder."""
    if not data.get("path"):
        raise ValueError(f"data.source=files needs data.path: a folder of {what}")
    root = Path(data["path"]).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data.path={root} is not a folder (data.source=files reads a folder of {what})")
    return root


def classify_files(root: Path, patterns, recursive: bool, output_dir: Path) -> tuple[list[Path], list[dict]]:
    """(files to read, every other file under `root` as {file, reason, detail}). The fetch output folder,
    when it lies under `root`, is one entry (its own records are never read back)."""
    to_read, unread, output_files = [], [], 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if output_dir in path.resolve().parents:
            output_files += 1
        elif not any(fnmatchcase(path.name, pattern) for pattern in patterns):
            unread.append({"file": rel.as_posix(), "reason": NO_PATTERN, "detail": ""})
        elif not recursive and len(rel.parts) > 1:
            unread.append({"file": rel.as_posix(), "reason": SUBFOLDER, "detail": ""})
        else:
            to_read.append(path)
    if output_files:
        rel = output_dir.relative_to(root.resolve()).as_posix() if output_dir.is_relative_to(root.resolve()) else ""
        detail = f"{output_files} files written by fetch itself (its output folder lies inside data.path), never read"
        unread.append({"file": f"{rel}/", "reason": "fetch output folder", "detail": detail})
    return to_read, unread


def record_stem(path: Path, root: Path) -> str:
    """A stable id from the path: `a/b/vasprun.xml.gz` -> `a/b`; `x/GaN_dos.json` -> `x/GaN_dos`."""
    rel = path.relative_to(root)
    name = rel.name
    for suffix in (".gz", ".bz2", ".xz", ".xml", ".json"):
        name = name.removesuffix(suffix)
    if name.startswith("vasprun"):
        parent = rel.parent.as_posix()
        return name if parent == "." else parent if name == "vasprun" else f"{parent}/{name}"
    return (rel.parent / name).as_posix()


def read_dft_file(path: Path, stem: str) -> list[RawRecord]:
    if ".xml" in path.name:
        return [read_vasprun(path, stem)]
    obj = read_json(path)
    if isinstance(obj, dict):
        return [record_from_complete_dos(_complete_dos(obj), stem, "files")]
    if isinstance(obj, list) and obj:
        return [record_from_complete_dos(_complete_dos(d), f"{stem}-{i}", "files") for i, d in enumerate(obj)]
    raise NotADos(f"JSON {type(obj).__name__} is neither a CompleteDos dict nor a non-empty list of them")


def _complete_dos(d: dict) -> CompleteDos:
    if "densities" not in d and isinstance(d.get("data"), dict):  # MP DOS store entry {fs_id, data}
        d = d["data"]
    if not isinstance(d, dict) or "densities" not in d or "energies" not in d:
        keys = sorted(d)[:8] if isinstance(d, dict) else type(d).__name__
        raise NotADos(f"not a pymatgen CompleteDos (no 'energies'/'densities'; found {keys})")
    if "structure" not in d:
        raise ValueError("a DOS without a structure cannot be used (need a CompleteDos, not a plain Dos)")
    d = {"pdos": [], **d}  # a CompleteDos saved without projections still parses; preprocess rejects it
    return CompleteDos.from_dict(d)  # from_dict directly: some files lack @module/@class


def read_vasprun(path: Path, stem: str) -> RawRecord:
    from pymatgen.io.vasp.outputs import Vasprun

    vr = Vasprun(str(path), parse_potcar_file=False, parse_projected_eigen=False)
    gap, _cbm, _vbm, _direct = vr.eigenvalue_band_properties
    rec = record_from_complete_dos(vr.complete_dos, stem, "files", band_gap=float(gap), gap_origin="dft")
    # provenance only, best effort: a missing INCAR detail must not lose an otherwise good DOS
    for key, attr in (("is_hubbard", "is_hubbard"), ("converged", "converged"), ("run_type", "run_type")):
        try:
            rec.meta[key] = getattr(vr, attr)
        except Exception as exc:
            rec.meta[key] = f"unknown ({type(exc).__name__})"
    return rec


def record_from_complete_dos(
    dos: CompleteDos,
    record_id: str,
    source: str,
    band_gap: float | None = None,
    gap_origin: str | None = None,
    is_metal: bool | None = None,
    magnetic_ordering: str | None = None,
    meta: dict | None = None,
) -> RawRecord:
    """Convert a pymatgen `CompleteDos` into the raw record (per-spin totals and per-element sums)."""
    if band_gap is None:
        band_gap, gap_origin = float(dos.get_gap()), "dos"
    total = {_spin_name(s): np.asarray(v, dtype=float) for s, v in dos.densities.items()}
    elements = None
    if dos.pdos:
        elements = {
            el.symbol: {_spin_name(s): np.asarray(v, dtype=float) for s, v in edos.densities.items()}
            for el, edos in dos.get_element_dos().items()
        }
    return RawRecord(
        id=record_id,
        source=source,
        synthetic=False,
        structure=dos.structure.as_dict(),
        efermi=float(dos.efermi),
        energies=np.asarray(dos.energies, dtype=float),
        total=total,
        elements=elements,
        band_gap=float(band_gap),
        gap_origin=gap_origin,
        is_metal=bool(band_gap <= 0) if is_metal is None else bool(is_metal),
        magnetic_ordering=magnetic_ordering,
        meta=dict(meta or {}),
    )


def _spin_name(spin) -> str:
    return "up" if spin == Spin.up else "down"
