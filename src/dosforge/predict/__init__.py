"""Prediction for new structures: `dosforge.load_model(path).predict(structures)` and `dosforge predict`.

    >>> import dosforge
    >>> model = dosforge.load_model("models/primary/best.pt")
    >>> [result] = model.predict(structure)           # pymatgen Structure(s)
    >>> total, by_element = result.to_pymatgen()      # pymatgen Dos objects, ready for DosPlotter

See docs/predict.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from dosforge.predict.inputs import StructureInput, resolve_inputs
from dosforge.predict.predictor import CheckpointInfo, Predictor
from dosforge.predict.result import PredictionFailure, PredictionResult
from dosforge.predict.validate import DEFAULT_MAX_ATOMS, StructureError, validate_structure

DEFAULT_CHECKPOINT = "models/primary/best.pt"


class CheckpointError(RuntimeError):
    """The checkpoint is missing or unreadable; the message says how to get one."""


def load_model(path: str | Path = DEFAULT_CHECKPOINT, device: str = "cpu") -> Predictor:
    """Load a checkpoint written by `dosforge.train` and return a `Predictor` on `device` ('cpu', 'cuda', 'auto')."""
    path = Path(path)
    if path.is_dir():  # a model directory (models/<name>/) holds its best.pt
        path = path / "best.pt"
    if not path.is_file():
        hint = " (train the primary model first: `dvc repro train`)" if path == Path(DEFAULT_CHECKPOINT) else ""
        raise CheckpointError(f"checkpoint not found: {path}{hint}")
    try:
        from dosforge.families import load_model as load_checkpoint  # any model family (the checkpoint names it)

        model, normalizer, meta = load_checkpoint(path, device="cpu")
        info = dataclasses.replace(CheckpointInfo.from_meta(meta, str(path)), sha256=_sha256(path))
    except Exception as exc:  # noqa: BLE001 - any failure to read the file is a checkpoint error for the user
        raise CheckpointError(f"cannot load checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    return Predictor(model, normalizer, info, device=device)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_MAX_ATOMS",
    "CheckpointError",
    "CheckpointInfo",
    "PredictionFailure",
    "PredictionResult",
    "Predictor",
    "StructureError",
    "StructureInput",
    "load_model",
    "resolve_inputs",
    "validate_structure",
]
