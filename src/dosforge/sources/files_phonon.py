"""The `files` source for `data.spectrum: phonon`: a folder of the user's own phonon calculations.

Reads (a) phonopy runs: every folder holding `total_dos.dat` (+ `projected_dos.dat` when present, summed
per element) with the structure from `phonopy_disp.yaml` / `phonopy.yaml` beside it, frequencies in
`files.frequency_unit` (THz, phonopy's default, or cm^-1); and (b) pymatgen `CompletePhononDos` JSON
(or a `PhononDos` dict that carries a `structure` key), THz as pymatgen stores them. Every record is
checked like the other phonon sources (dosforge.phonon.validate, 3N mode count included); a file or
folder that cannot be used is a skipped item with its reason, never an exception that loses the rest.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from dosforge.config import choice
from dosforge.io import read_json
from dosforge.phonon.convert import UNIT_FACTORS, phonon_dos_from_dict, record_from_phonon_dos, record_from_phonopy
from dosforge.phonon.validate import check_phonon_record
from dosforge.preprocess.validate import Reject
from dosforge.records import PhononRecord, write_record
from dosforge.sources.files import classify_files, input_folder, record_stem

JSON_PATTERNS = ("*.json", "*.json.gz")
PHONOPY_FILES = ("total_dos.dat", "projected_dos.dat", "phonopy_disp.yaml", "phonopy.yaml", "phonopy_params.yaml")
NO_TOTAL_DOS = "phonopy file without total_dos.dat"


def fetch_files_phonon(params: dict, raw_dir: str | Path) -> dict:
    from dosforge.sources import skip

    data = params.get("data", {})
    cfg = params.get("files") or {}
    root = input_folder(data, "phonopy runs / CompletePhononDos JSON[.gz]")
    unit = choice(cfg.get("frequency_unit", "THz"), UNIT_FACTORS, "files.frequency_unit")
    recursive = bool(cfg.get("recursive", True))
    out = Path(raw_dir).resolve()  # never read our own output back when raw_dir lies inside data.path
    # every file under data.path is read or listed with its reason (issue 14), as in the electron source
    paths, unread = classify_files(root, (*PHONOPY_FILES, *JSON_PATTERNS), recursive, out)
    dos_files = [p for p in paths if p.name == "total_dos.dat"]
    json_files = [p for p in paths if p.name not in PHONOPY_FILES]
    runs = {p.parent for p in dos_files}
    for p in paths:  # a phonopy companion is read with the total_dos.dat beside it, else listed
        if p.name in PHONOPY_FILES and p.name != "total_dos.dat" and p.parent not in runs:
            unread.append({"file": p.relative_to(root).as_posix(), "reason": NO_TOTAL_DOS, "detail": ""})
    if not dos_files and not json_files:
        raise FileNotFoundError(
            f"no total_dos.dat or *.json[.gz] files under {root} ({len(unread)} other files listed in the report)"
        )

    skipped, seen, written = [], set(), 0
    items = [("phonopy", p) for p in dos_files] + [("json", p) for p in json_files]
    for kind, path in tqdm(items, desc="fetch files (phonon)", unit="file"):
        rel = path.relative_to(root).as_posix()
        stem = _phonopy_id(path, root) if kind == "phonopy" else record_stem(path, root)
        try:
            records = [record_from_phonopy(path.parent, stem, unit)] if kind == "phonopy" else _read_json(path, stem)
        except Exception as exc:  # any parser failure: report it and go on with the other files
            skipped.append(skip(stem, "unparseable", f"{type(exc).__name__}: {exc}", rel))
            continue
        for rec in records:
            rec.meta["file"] = rel
            reason = _reject_reason(rec, seen, data.get("max_sites"))
            if reason:
                skipped.append(skip(rec.id, *reason, rel))
                continue
            seen.add(rec.id)
            write_record(raw_dir, rec)
            written += 1
    unread.sort(key=lambda u: u["file"])
    counts: dict[str, int] = {}
    for u in unread:
        counts[u["reason"]] = counts.get(u["reason"], 0) + 1
    return {
        "spectrum": "phonon",
        "root": str(root),
        "n_files": len(items),
        "n_written": written,
        "skipped": skipped,
        "n_unread_files": len(unread),
        "unread_counts": dict(sorted(counts.items())),
        "unread_files": unread,
    }


def _phonopy_id(path: Path, root: Path) -> str:
    """`a/b/total_dos.dat` -> `a/b`; a run at the root itself -> `total_dos`."""
    parent = path.parent.relative_to(root).as_posix()
    return "total_dos" if parent == "." else parent


def _read_json(path: Path, stem: str) -> list[PhononRecord]:
    obj = read_json(path)
    docs = [obj] if isinstance(obj, dict) else obj if isinstance(obj, list) and obj else None
    if docs is None:
        raise ValueError("JSON is neither a phonon DOS dict nor a non-empty list of them")
    ids = [stem] if isinstance(obj, dict) else [f"{stem}-{i}" for i in range(len(docs))]
    return [
        record_from_phonon_dos(phonon_dos_from_dict(d), rid, "files", structure=d.get("structure"))
        for d, rid in zip(docs, ids, strict=True)
    ]


def _reject_reason(rec: PhononRecord, seen: set, max_sites) -> tuple[str, str] | None:
    if rec.id in seen:
        return "duplicate id", "another file produced the same id"
    n_sites = len(rec.structure.get("sites", []))
    if max_sites and n_sites > int(max_sites):
        return "too many sites", f"{n_sites} > data.max_sites={max_sites}"
    try:
        check_phonon_record(rec)
    except Reject as exc:
        return exc.reason, exc.detail
    return None
