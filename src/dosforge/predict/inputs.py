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

    Returns `(inputs, skipped)`: `skipped` lists what a folder or glob contained that is not a structure
    file, and sub-folders (not searched), each with the reason: reported, but not failures (the user did
    not name them one by one). A file reached twice (named and inside a named folder, or through a
    recursive glob) is read once. Ids are made unique by suffixing `#2`, `#3`, ... when names repeat.
    """
    c = _Collector()
    for spec in specs:
        if isinstance(spec, Structure):
            c.inputs.append(StructureInput(f"structure-{len(c.inputs)}", "python", structure=spec))
            continue
        text = str(spec)
        path = Path(text)
        if MP_ID.match(text) and not path.exists():
            c.inputs.append(StructureInput(text, f"mp:{text}"))  # filled in by _fetch_mp below
        elif path.is_dir():
            c.folder(path)
        elif path.is_file():
            c.file(path, named=True)
        elif GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                c.inputs.append(StructureInput(text, text, error=f"glob matched no files: {text}"))
            for m in map(Path, matches):
                if not m.is_dir():
                    c.file(m, named=False)
                elif "**" not in text:  # a recursive glob matches the files inside directly
                    c.folder(m)
        else:
            error = f"no such file or folder, and not a Materials Project id (mp-NNN): {text}"
            c.inputs.append(StructureInput(text, text, error=error))
    if any(inp.source.startswith("mp:") for inp in c.inputs):
        _fetch_mp(c.inputs, mp_client_factory or default_mp_client_factory)
    _make_ids_unique(c.inputs)
    return c.inputs, c.skipped


class _Collector:
    """Inputs and skipped entries of one `resolve_inputs` call, reading every file at most once."""

    def __init__(self):
        self.inputs: list[StructureInput] = []
        self.skipped: list[dict] = []
        self.seen: set[Path] = set()

    def file(self, path: Path, named: bool) -> None:
        """Read `path`; a file the user did not name (folder/glob) that is not a structure format is skipped."""
        if not named and not is_structure_file(path):
            self.skip(path, "not a structure file (expected CIF, POSCAR/CONTCAR/*.vasp, JSON)")
            return
        key = path.resolve()
        if key not in self.seen:
            self.seen.add(key)
            self.inputs.extend(read_structure_file(path))

    def folder(self, folder: Path) -> None:
        """The folder's structure files, non-recursively (hidden files ignored, sub-folders reported)."""
        n_structure_files = 0
        for p in sorted(folder.iterdir()):
            if p.name.startswith("."):
                continue  # hidden files (.DS_Store, editor swap files) are never structures
            if p.is_dir():
                self.skip(p, f"sub-folder not searched (to recurse pass a glob: '{folder}/**/*')")
                continue
            n_structure_files += is_structure_file(p)
            self.file(p, named=False)
        if not n_structure_files:
            error = f"no structure files in folder {folder}"
            self.inputs.append(StructureInput(_stem(folder), str(folder), error=error))

    def skip(self, path: Path, reason: str) -> None:
        if not any(s["path"] == str(path) for s in self.skipped):
            self.skipped.append({"path": str(path), "reason": reason})


def _fetch_mp(inputs: list[StructureInput], factory: Callable[[], Any]) -> None:
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
    key = os.environ.get("MP_API_KEY")
    if key:
        msg = msg.replace(key, "<MP_API_KEY>")  # a client error that echoes its request must not leak the key
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({msg})"
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
