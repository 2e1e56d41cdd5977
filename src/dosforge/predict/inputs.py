"""Turn what a user names on the command line into structures: files, folders, globs and MP ids.

Every input yields `StructureInput`s, one per structure, each holding either a pymatgen
`Structure` or the reason it could not be read. Nothing is dropped silently: a file that does not
parse, a glob that matches nothing or an MP id that the Materials Project does not know becomes a
failed input with its reason, and the other inputs are still read.

Formats: CIF (every data block of a multi-structure CIF), POSCAR/CONTCAR/*.vasp and pymatgen
Structure JSON (optionally gzipped), recognised by pymatgen's own file-name patterns. Materials
Project ids go through mp-api with the key from `MP_API_KEY`; the client is created lazily, only
when an MP id is actually asked for, through an injectable factory (tests pass a fake).
"""

from __future__ import annotations

import glob
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

MP_ID = re.compile(r"^(mp|mvc)-\d+$")
GLOB_CHARS = set("*?[")


@dataclass
class StructureInput:
    """One structure to predict: `structure` is None exactly when `error` says why it could not be read."""

    id: str  # unique within a run: file stem (plus ":<block>" for multi-structure CIFs) or the MP id
    source: str  # the file path or "mp:<id>"
    structure: Structure | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def default_mp_client_factory() -> Any:
    """An `mp_api.client.MPRester` built from `MP_API_KEY` (its constructor goes online)."""
    key = os.environ.get("MP_API_KEY")
    if not key:
        raise RuntimeError("MP_API_KEY is not set: export your Materials Project API key to predict MP ids")
    from mp_api.client import MPRester

    return MPRester(api_key=key, mute_progress_bars=True)


def is_structure_file(path: Path) -> bool:
    """True when pymatgen recognises the file name as a structure format we read."""
    return _format_name(path) in ("cif", "poscar", "json")


def _format_name(path: Path) -> str | None:
    from pymatgen.io.registry import get_structure_format

    try:
        return get_structure_format(filename=str(path)).name
    except ValueError:
        return None


def read_structure_file(path: str | Path, source_id: str | None = None) -> list[StructureInput]:
    """Read every structure in one file; an unreadable file becomes one failed input with the parser's reason."""
    path = Path(path)
    sid = source_id or _stem(path)
    if not path.is_file():
        return [StructureInput(sid, str(path), error=f"file not found: {path}")]
    try:
        if _format_name(path) == "cif":
            structures = _read_cif(path)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structures = [Structure.from_file(path)]
    except Exception as exc:  # noqa: BLE001 - any parser failure is a per-file error, reported with its reason
        return [StructureInput(sid, str(path), error=f"unreadable structure file: {_reason(exc)}")]
    if len(structures) == 1:
        return [StructureInput(sid, str(path), structure=structures[0])]
    return [StructureInput(f"{sid}:{i}", str(path), structure=s) for i, s in enumerate(structures)]


def _read_cif(path: Path) -> list[Structure]:
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        # CifParser warns about every odd field; a file it cannot turn into a structure raises below
        warnings.simplefilter("ignore")
        parser = CifParser(path)
        # primitive=False: keep the user's cell; the predictor chooses the cell the model sees.
        structures = parser.parse_structures(primitive=False, on_error="ignore")
    if not structures:
        raise ValueError("no structure could be parsed from this CIF")
    return structures


def resolve_inputs(
    specs: Iterable[str | os.PathLike | Structure],
    mp_client_factory: Callable[[], Any] | None = None,
) -> tuple[list[StructureInput], list[dict]]:
    """Expand files, folders, globs, MP ids (and in-memory Structures) into inputs.

    Returns `(inputs, skipped)`: `skipped` lists files inside a named folder that are not a structure
    format (with the reason), which are reported but are not failures (the user did not name them).
    Ids are made unique by suffixing `#2`, `#3`, ... when two inputs share a name.
    """
    inputs: list[StructureInput] = []
    skipped: list[dict] = []
    mp_ids: list[str] = []
    for spec in specs:
        if isinstance(spec, Structure):
            inputs.append(StructureInput(f"structure-{len(inputs)}", "python", structure=spec))
            continue
        text = str(spec)
        path = Path(text)
        if MP_ID.match(text) and not path.exists():
            mp_ids.append(text)
            inputs.append(StructureInput(text, f"mp:{text}"))  # filled in by _fetch_mp below
        elif path.is_dir():
            found, skip = _scan_folder(path)
            inputs.extend(found)
            skipped.extend(skip)
        elif path.is_file():
            inputs.extend(read_structure_file(path))
        elif GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                inputs.append(StructureInput(text, text, error=f"glob matched no files: {text}"))
            for m in matches:
                if Path(m).is_dir():
                    found, skip = _scan_folder(Path(m))
                    inputs.extend(found)
                    skipped.extend(skip)
                else:
                    inputs.extend(read_structure_file(m))
        else:
            inputs.append(
                StructureInput(
                    text, text, error=f"no such file or folder, and not a Materials Project id (mp-NNN): {text}"
                )
            )
    if mp_ids:
        _fetch_mp(inputs, mp_ids, mp_client_factory or default_mp_client_factory)
    _make_ids_unique(inputs)
    return inputs, skipped


def _scan_folder(folder: Path) -> tuple[list[StructureInput], list[dict]]:
    found: list[StructureInput] = []
    skipped: list[dict] = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.is_dir():
            continue  # hidden files and sub-folders are not structures the user named; sub-folders: pass a glob
        if is_structure_file(p):
            found.extend(read_structure_file(p))
        else:
            skipped.append(
                {"path": str(p), "reason": "not a structure file (expected CIF, POSCAR/CONTCAR/*.vasp, JSON)"}
            )
    if not found:
        found.append(StructureInput(_stem(folder), str(folder), error=f"no structure files in folder {folder}"))
    return found, skipped


def _fetch_mp(inputs: list[StructureInput], mp_ids: list[str], factory: Callable[[], Any]) -> None:
    pending = [inp for inp in inputs if inp.source.startswith("mp:") and inp.structure is None and inp.error is None]
    try:
        client = factory()
    except Exception as exc:  # noqa: BLE001 - no key / no network: every MP id fails with the reason, files still run
        for inp in pending:
            inp.error = f"Materials Project client unavailable: {_reason(exc)}"
        return
    try:
        for inp in pending:
            mpid = inp.source[3:]
            try:
                structure = client.get_structure_by_material_id(mpid)
            except Exception as exc:  # noqa: BLE001 - unknown id or a failed request is this id's error only
                inp.error = f"Materials Project lookup failed for {mpid}: {_reason(exc)}"
                continue
            if isinstance(structure, list):  # final=False returns a list; we ask for the final structure
                structure = structure[-1] if structure else None
            if structure is None:
                inp.error = f"Materials Project has no structure for {mpid}"
            else:
                inp.structure = structure
    finally:
        close = getattr(client, "__exit__", None)
        if close is not None:
            close(None, None, None)


def _make_ids_unique(inputs: list[StructureInput]) -> None:
    seen: dict[str, int] = {}
    for inp in inputs:
        n = seen.get(inp.id, 0) + 1
        seen[inp.id] = n
        if n > 1:
            inp.id = f"{inp.id}#{n}"


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".bz2", ".xz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return Path(name).stem if Path(name).suffix.lower() in (".cif", ".json", ".vasp", ".mson") else name


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({msg})"
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
