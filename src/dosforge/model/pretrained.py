"""The pretrained-encoder file (`models/pretrain/encoder.pt`) and `model.init`: its format, writer and strict reader.

`model.init: scratch` (default) starts every DOSForge model from its seed; `pretrained` then copies the
encoder weights written by the `pretrain` stage (CrysLDNet, docs/pretraining.md) into `DOSForge.encoder`
and fine-tunes everything end to end (the seed paper's section 4.3: nothing is frozen). The file is a dict
of plain values and tensors, loadable with `torch.load(weights_only=True)`:

    format: 1, kind: "dosforge-pretrained-encoder",
    encoder_config: {d, layers, heads, rbf_bins, angle_bins, atom_features}   (what the weights' shapes mean)
    graph_params:   {cutoff, max_neighbors}                                  (the graphs it was trained on)
    encoder_state:  ICoMFormerEncoder.state_dict()                           (strict: same keys and shapes)
    info:           free-form plain values from the pretraining (method, stages, corpus counts, metrics)

The pretraining code only writes this format (`save_pretrained_encoder`); training only reads it
(`read_pretrained_encoder`), so the train side never imports `dosforge.pretrain`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from dosforge.config import ConfigError, choice
from dosforge.io import atomic_path
from dosforge.shards import sha256

INITS = ("scratch", "pretrained")
FORMAT = 1
KIND = "dosforge-pretrained-encoder"
ENCODER_FILE = "encoder.pt"
SKIPPED_FILE = "skipped.json"  # what the pretrain stage writes when model.init is scratch
ENCODER_KEYS = ("d", "layers", "heads", "rbf_bins", "angle_bins")


def model_init(model_section: dict) -> str:
    """`model.init` of a `model:` params section (default scratch), validated."""
    return choice(model_section.get("init", "scratch"), INITS, "model.init")


def encoder_config(model_config) -> dict:
    """The sizes and atom features that fix the encoder's parameter shapes, from a `ModelConfig`."""
    return {**{k: int(model_config.encoder[k]) for k in ENCODER_KEYS}, "atom_features": model_config.atom_features}


def _graph(params: dict) -> dict:
    return {"cutoff": float(params["cutoff"]), "max_neighbors": int(params["max_neighbors"])}


def save_pretrained_encoder(path, encoder: torch.nn.Module, *, model_config, graph_params: dict, info: dict) -> str:
    """Write `encoder`'s weights in the format above, atomically; returns the file's sha256."""
    state = {
        "format": FORMAT,
        "kind": KIND,
        "encoder_config": encoder_config(model_config),
        "graph_params": _graph(graph_params),
        "encoder_state": {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()},
        "info": info,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return sha256(path)


def _differences(found: dict, expected: dict) -> list[str]:
    keys = sorted(set(found) | set(expected))
    return [f"{k}: file {found.get(k)!r} vs now {expected.get(k)!r}" for k in keys if found.get(k) != expected.get(k)]


def read_pretrained_encoder(path, *, model_config, graph_params: dict) -> tuple[dict, dict]:
    """The encoder state of `path`, checked against the model to be trained and the data's graph parameters.

    Returns (encoder_state, record) where record = {path, sha256, info} is what checkpoints, summaries and
    MLflow record. Raises ConfigError naming the fix when the file is missing, is not this format, or
    its sizes, atom features or graph parameters differ from the current ones."""
    path = Path(path)
    if not path.is_file():
        skipped = path.parent / SKIPPED_FILE
        why = f" ({skipped} says pretraining was skipped because model.init was scratch)" if skipped.exists() else ""
        raise ConfigError(
            f"model.init=pretrained but {path} is missing{why}: run the pretrain stage first "
            "(`dvc repro pretrain` with model.init: pretrained, or `dvc exp run -S model.init=pretrained`)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which file and how to remake it
        raise ConfigError(f"{path} is not a readable pretrained encoder ({exc}): re-run `dvc repro pretrain`") from exc
    if not isinstance(state, dict) or state.get("kind") != KIND or state.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a DOSForge pretrained encoder (format {FORMAT}): re-run `dvc repro pretrain`")
    diff = _differences(state["encoder_config"], encoder_config(model_config))
    if diff:
        raise ConfigError(
            f"{path} was pretrained for another encoder ({'; '.join(diff)}): pretrain again with the current "
            "model.size / model.encoder / model.atom_features (`dvc repro pretrain`), or set them back"
        )
    diff = _differences(state["graph_params"], _graph(graph_params))
    if diff:
        raise ConfigError(
            f"{path} was pretrained on crystal graphs built with other parameters ({'; '.join(diff)}): "
            "pretrain again with the current `graph:` section (`dvc repro pretrain`), or set it back"
        )
    record = {"path": str(path), "sha256": sha256(path), "info": state.get("info") or {}}
    return state["encoder_state"], record


def load_encoder_state(encoder: torch.nn.Module, state: dict) -> None:
    """Copy `state` into `encoder` strictly (every key, every shape); a mismatch is a ConfigError."""
    table = state.get("element_table")
    if (
        table is not None
        and table.shape == encoder.element_table.shape
        and not torch.equal(table, encoder.element_table)
    ):
        # same feature set, different numbers (e.g. another pymatgen): the pretrained table travels with its weights
        warnings.warn(
            "the pretrained encoder's element-feature table differs from today's; using the pretrained one",
            stacklevel=3,
        )
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"the pretrained encoder does not fit this model's encoder: {exc}") from exc
