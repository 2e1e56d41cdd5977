"""Model families behind one factory (DESIGN.md "Model families").

A checkpoint names its family (`model_family` in best.pt; DOSForge checkpoints written before families existed
have none and are `dosforge`). `load_model(path)` returns (model, Normalizer, meta) for any family;
`train_baseline(params, name, ...)` trains the published model a `baselines.<name>` params section names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from dosforge.config import choice

DEFAULT_FAMILY = "dosforge"


@dataclass(frozen=True)
class Family:
    name: str
    load: Callable  # (path, device) -> (model, Normalizer, meta)
    train: Callable | None  # run_baseline(params, name, processed_dir=, split_dir=, out_dir=, tracker=, log=)


def _load_dosforge(path, device="cpu"):
    from dosforge.train.checkpoint import load_model

    model, normalizer, meta = load_model(path, device=device)
    return model, normalizer, {**meta, "model_family": DEFAULT_FAMILY}


def _load_dostransformer(path, device="cpu"):
    from dosforge.families.dostransformer.train import load_family_checkpoint
    from dosforge.normalize import Normalizer

    model, meta = load_family_checkpoint(path, device)
    return model, Normalizer(meta["normalization"]), meta


def _train_dostransformer(*args, **kwargs):
    from dosforge.families.dostransformer.train import run_baseline

    return run_baseline(*args, **kwargs)


FAMILIES: dict[str, Family] = {
    "dosforge": Family("dosforge", _load_dosforge, None),  # trained by stages/train.py (train, ablate, seed)
    "dostransformer": Family("dostransformer", _load_dostransformer, _train_dostransformer),
}


def get_family(name: str) -> Family:
    return FAMILIES[choice(name, FAMILIES, "model family")]


def _best(path) -> Path:
    path = Path(path)
    return path / "best.pt" if path.is_dir() else path


def checkpoint_family(path) -> str:
    """The family a best.pt (or its model directory) names."""
    path = _best(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train the model first")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return str(state.get("model_family", DEFAULT_FAMILY))


def load_model(path, device: str = "cpu"):
    """Any family's best.pt (or model directory) -> (model in eval mode, Normalizer, meta with `model_family`)."""
    return get_family(checkpoint_family(path)).load(_best(path), device)


def baseline_family(params: dict, name: str) -> Family:
    """The family of `baselines.<name>` (its `family` key, default: the name itself)."""
    section = (params.get("baselines") or {}).get(name) or {}
    family = get_family(str(section.get("family", name)))
    if family.train is None:
        raise ValueError(f"baselines.{name}: family {family.name!r} is trained by its own stages, not as a baseline")
    return family
