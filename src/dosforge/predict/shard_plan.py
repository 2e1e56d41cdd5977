"""Inputs of a batch prediction: every structure file named, listed once in a fixed order, cut into shards.

The listing follows `dosforge.predict.inputs.resolve_inputs` (folders non-recursively, globs, named
files; hidden files ignored; non-structure files and sub-folders of a named folder reported as skipped)
but reads no file: reading and graph building happen later, in DataLoader workers. A name that cannot
be read (no such file, a glob that matches nothing, an MP id, which batch mode does not fetch) stays in
the list with its error and becomes a failed row, so nothing is dropped. Shard k holds files
`[k * shard_size, (k + 1) * shard_size)` of the sorted listing: its content depends only on its own
files, so shards can be predicted in any order, by any process, and resumed one by one.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dosforge.predict.inputs import GLOB_CHARS, MP_ID, _stem, is_structure_file


@dataclass(frozen=True)
class InputFile:
    """One named input: a file to read (`error` None) or a name that already failed, with the reason."""

    id: str  # unique within the run; a multi-structure CIF adds ":<block>" per structure
    path: str
    error: str | None = None

    def line(self) -> str:
        return f"{self.id}\t{self.path}\t{self.error or ''}"


@dataclass
class ShardPlan:
    files: list[InputFile]
    shard_size: int
    skipped: list[dict] = field(default_factory=list)

    def __post_init__(self):
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")

    @property
    def n_shards(self) -> int:
        return -(-len(self.files) // self.shard_size)

    def shard(self, k: int) -> list[InputFile]:
        return self.files[k * self.shard_size : (k + 1) * self.shard_size]

    def shard_sha256(self, k: int) -> str:
        """Fingerprint of shard k's inputs: a finished part is reused only for exactly these inputs."""
        return _sha256_lines(f.line() for f in self.shard(k))

    def files_sha256(self) -> str:
        return _sha256_lines(f.line() for f in self.files)

    def shards_of(self, rank: int, world: int) -> list[int]:
        """The shards process `rank` of `world` takes: k % world == rank (no coordination needed)."""
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in [0, {world})")
        return list(range(rank, self.n_shards, world))


def list_input_files(specs: Iterable[str | os.PathLike]) -> tuple[list[InputFile], list[dict]]:
    """Expand files, folders, globs and list files into `InputFile`s (ids unique) and skipped entries."""
    files: list[InputFile] = []
    skipped: list[dict] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(InputFile(_stem(path), str(path)))

    for spec in specs:
        text = str(spec)
        path = Path(text)
        if path.is_dir():
            _folder(path, files, skipped, add)
        elif path.is_file():
            add(path)
        elif MP_ID.match(text):
            error = "batch mode reads structure files only: predict Materials Project ids with --format json"
            files.append(InputFile(text, text, error))
        elif GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                files.append(InputFile(text, text, f"glob matched no files: {text}"))
            for m in map(Path, matches):
                if m.is_dir():
                    if "**" not in text:  # a recursive glob matches the files inside directly
                        _folder(m, files, skipped, add)
                elif is_structure_file(m):
                    add(m)
                else:
                    skipped.append({"path": str(m), "reason": "not a structure file (expected CIF, POSCAR, JSON)"})
        else:
            files.append(InputFile(text, text, f"no such file or folder: {text}"))
    return _unique_ids(files), skipped


def read_list_file(path: str | os.PathLike) -> list[str]:
    """Non-empty, non-comment lines of a list file, one input (file, folder or glob) per line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


def _folder(folder: Path, files: list[InputFile], skipped: list[dict], add) -> None:
    n_structure_files = 0
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue  # hidden files (.DS_Store, editor swap files) are never structures
        if p.is_dir():
            skipped.append({"path": str(p), "reason": f"sub-folder not searched (to recurse pass '{folder}/**/*')"})
        elif is_structure_file(p):
            n_structure_files += 1
            add(p)
        else:
            skipped.append({"path": str(p), "reason": "not a structure file (expected CIF, POSCAR, JSON)"})
    if not n_structure_files:
        files.append(InputFile(_stem(folder), str(folder), f"no structure files in folder {folder}"))


def _unique_ids(files: list[InputFile]) -> list[InputFile]:
    """Repeated names get `#2`, `#3`, ... in listing order, as `resolve_inputs` does."""
    seen: dict[str, int] = {}
    out = []
    for f in files:
        n = seen.get(f.id, 0) + 1
        seen[f.id] = n
        out.append(f if n == 1 else InputFile(f"{f.id}#{n}", f.path, f.error))
    return out


def _sha256_lines(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()
