"""Checkpoints: `last.pt` (resume) and `best.pt` (inference), both written atomically.

- `last.pt`, written after every epoch: model, optimizer, scheduler and RNG states, the epoch,
  the best score so far, the history and a fingerprint of everything the run depends on (config,
  data, library source). A run resumes from it only when the fingerprint matches, so a stale
  `last.pt` (changed params, data or code) is never continued by mistake.
- `best.pt`, written when the validation selection score improves: model weights plus what
  inference needs (model config, normalisation statistics, grid, training elements, data source,
  synthetic flag, graph parameters, epoch, score). It holds only tensors and plain Python values,
  so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from dosforge.io import atomic_path

BEST = "best.pt"
LAST = "last.pt"
FORMAT_VERSION = 1


def _save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def fingerprint(config: dict, data_files: list[str | Path] = (), code_files: list[str | Path] = ()) -> str:
    """sha256 over the resolved config (JSON) and the bytes of the data and code files a run depends on."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for p in sorted(map(str, data_files)) + sorted(map(str, code_files)):
        h.update(p.encode())
        h.update(Path(p).read_bytes() if Path(p).is_file() else b"<missing>")
    return h.hexdigest()


TRAINING_CODE = ("train", "model", "normalize.py", "shards.py", "gap.py", "metrics.py", "predictions.py", "grid.py")


def library_sources() -> list[Path]:
    """The library code a training run depends on (the train/ablate stages' code deps in dvc.yaml):
    a change to any of it invalidates a half-finished run."""
    root = Path(__file__).resolve().parents[1]
    files = []
    for name in TRAINING_CODE:
        path = root / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def save_last(path, *, model, optimizer, scheduler, epoch: int, best: dict, history: list, fingerprint: str) -> None:
    state = {
        "format": FORMAT_VERSION,
        "epoch": epoch,  # last completed epoch (0-based)
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "scheduler_state": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "best": best,
        "history": history,
        "fingerprint": fingerprint,
    }
    _save(state, Path(path))


def load_last(path, fingerprint: str | None = None) -> dict | None:
    """The resume state, or None when there is none or it belongs to a different run (fingerprint)."""
    path = Path(path)
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)  # our own file: optimizer/scheduler states
    if fingerprint is not None and state.get("fingerprint") != fingerprint:
        return None
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():
        # a run resumed on a machine with fewer visible GPUs restores the states of the devices it has
        for device, rng in enumerate(state["cuda_rng"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(rng, device)


def save_best(path, *, model, meta: dict) -> None:
    """`meta` must hold plain values: model_config, normalization, grid, elements, source, synthetic,
    graph_params, tasks, epoch, score (see `dosforge.train.loop`)."""
    state = {"format": FORMAT_VERSION, "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    state.update(meta)
    _save(state, Path(path))


LEGACY_ENCODER_KEYS = ("encoder.edge_update.lemb.", "encoder.edge_update.lin_len.")  # before issue 9


def load_checkpoint(path) -> dict:
    """Read `best.pt` (or a model directory holding one) as a dict of plain values and tensors."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train a model first (`dvc repro train`)")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_model(path, device: str = "cpu"):
    """`best.pt` (or its model directory) -> (model in eval mode, Normalizer, meta dict)."""
    from dosforge.model import DOSForge
    from dosforge.model.config import ModelConfig
    from dosforge.normalize import Normalizer

    state = load_checkpoint(path)
    if any(k.startswith(LEGACY_ENCODER_KEYS) for k in state["model_state"]):
        raise ValueError(
            f"{path} was trained before issue 9 changed the encoder (its edge update carries a lattice embedding "
            "that the published iComFormer never uses, now removed; docs/model.md): retrain it with this version "
            "(`dvc repro`), or load it with the DOSForge version that wrote it"
        )
    config = ModelConfig.from_dict(state["model_config"])
    model = DOSForge(config)
    model.load_state_dict(state["model_state"])
    model.to(device).eval()
    normalizer = Normalizer(state["normalization"])
    meta = {k: v for k, v in state.items() if k != "model_state"}
    return model, normalizer, meta
