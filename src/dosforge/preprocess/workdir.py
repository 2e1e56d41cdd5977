"""The work folder of preprocess: where chunk work shards and sidecars live between runs (resume).

`<preprocess.work_dir>/<fingerprint>/`, outside the DVC output (DVC deletes `data/processed` before it
re-runs the stage). The fingerprint covers everything a work shard depends on besides its own input
files (those are fingerprinted per chunk in its sidecar): grid, resample mode, graph params and builder,
chunk size, and the source of the code that computes the shards.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from functools import partial
from pathlib import Path

# the code whose change makes cached work shards stale
_CODE = ("preprocess", "graph.py", "grid.py", "records.py", "shards.py")


def work_fingerprint(params, grid, resample, graph_builder, chunk_records, phonon=None) -> str:
    """What the work shards depend on besides their inputs: settings, graph builder and the code itself."""
    package = Path(__file__).resolve().parents[1]  # src/dosforge
    code = hashlib.sha256()
    for name in _CODE:
        for f in sorted((package / name).rglob("*.py")) if (package / name).is_dir() else [package / name]:
            code.update(f.read_bytes())
    key = {
        "grid": grid.as_dict(),
        "resample": resample,
        "graph": params.get("graph") if graph_builder else None,
        "builder": _describe(graph_builder),
        "chunk_records": chunk_records,
        "code": code.hexdigest(),
    }
    if phonon is not None:  # (FrequencyGrid, options) of a phonon preprocess
        key["phonon"] = [phonon[0].as_dict(), phonon[1]]
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _describe(fn) -> str | None:
    if fn is None:
        return None
    if isinstance(fn, partial):
        return f"{_describe(fn.func)}{sorted(fn.keywords.items())}"
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


class WorkFolder:
    """`<work_dir>/<fingerprint>/` kept for resume (other fingerprints' folders are removed after a
    successful run); without `preprocess.work_dir`, a temporary folder removed at the end (no resume)."""

    def __init__(self, work_dir: str | None, fingerprint: str):
        self.root = Path(work_dir) if work_dir else None
        self.fingerprint, self._tmp = fingerprint, None

    def __enter__(self) -> Path:
        if self.root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dosforge-preprocess-")
            return Path(self._tmp.name)
        path = self.root / self.fingerprint
        path.mkdir(parents=True, exist_ok=True)
        for leftover in path.glob(".chunk-*.tmp"):  # written by a run killed mid-file
            leftover.unlink(missing_ok=True)
        return path

    def __exit__(self, exc_type, *_):
        if self._tmp is not None:
            self._tmp.cleanup()
        elif exc_type is None:
            for other in self.root.iterdir():
                if other.is_dir() and other.name != self.fingerprint and len(other.name) == len(self.fingerprint):
                    shutil.rmtree(other, ignore_errors=True)
        return False


def drop_stale_chunks(work_dir: Path, n_chunks: int) -> None:
    """Chunk files beyond the current input (left by an earlier, longer input) are not needed any more."""
    for f in [*work_dir.glob("chunk-*.h5"), *work_dir.glob("chunk-*.json")]:
        if int(f.stem.removeprefix("chunk-")) >= n_chunks:
            f.unlink(missing_ok=True)
