"""One model, end to end: params -> resolved configs -> training -> the model directory's files.

Used by `stages/train.py` for the primary model (`params: model, train, loss, seed`) and for each
ablation variant (`ablations.<name>` overrides `tasks`, `coupling`, `gap_head` of `model`).

A model directory holds: best.pt, last.pt, history.json (per-epoch losses, lr, validation WD),
summary.json, test_predictions.h5 (test split, original units) and mlflow_run.json.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from dosforge.config import ConfigError, choice, known_keys
from dosforge.grid import EnergyGrid
from dosforge.io import read_json, write_json
from dosforge.model.config import ModelConfig
from dosforge.train import checkpoint as ckpt
from dosforge.train import distributed, phonon
from dosforge.train.config import resolve_train_config
from dosforge.train.inference import predict_split
from dosforge.train.loop import train_model
from dosforge.train.tracking import Tracker, git_commit

ABLATION_KEYS = ("tasks", "coupling", "gap_head")  # what a variant may change; everything else is shared


def model_section(params: dict, variant: str | None) -> dict:
    """The `model:` section, with `ablations.<variant>` applied on top when a variant is given."""
    section = copy.deepcopy(params.get("model") or {})
    if variant is None:
        return section
    ablations = params.get("ablations") or {}
    choice(variant, list(ablations), "ablation variant")
    override = known_keys(dict(ablations[variant] or {}), ABLATION_KEYS, f"ablations.{variant}")
    section.update(copy.deepcopy(override))
    return section


def build_model_config(params: dict, section: dict):
    """ModelConfig from the full params (it also reads grid and loss.gap_k) with `section` as `model:`."""
    return ModelConfig.from_params(dict(params, model=section))


def build_loss_config(section: dict):
    from dosforge.model.losses import LossConfig

    return LossConfig.from_params(section)


def training_elements(processed, ids) -> list[int]:
    index = {mid: i for i, mid in enumerate(processed.ids)}
    zs = set()
    for mid in ids:
        i = index[mid]
        zs.update(np.unique(processed.atomic_numbers[processed.atom_ptr[i] : processed.atom_ptr[i + 1]]).tolist())
    return sorted(int(z) for z in zs)


def graph_params(manifest: dict) -> dict:
    """The graph construction parameters (cutoff, max_neighbors) the processed data were built with.

    Training needs graphs built once at preprocess; without them collate would rebuild every graph in
    every batch of every epoch, so data without graphs is an error, not a slow path."""
    params = (manifest.get("graph") or {}).get("params")
    if not params:
        raise ConfigError("the processed data has no crystal graphs: set preprocess.graphs: true and re-run preprocess")
    return dict(params)


def data_source(processed) -> str:
    """The data source(s) of the processed materials ("embedded", "mp", "files", or a comma-joined mix)."""
    source = processed.source
    return source if isinstance(source, str) else ",".join(sorted(set(map(str, source))))


def run_training(
    params: dict,
    *,
    processed_dir: str | Path,
    split_dir: str | Path,
    out_dir: str | Path,
    variant: str | None = None,
    seed: int | None = None,
    tracker: Tracker | None = None,
    on_epoch_end=None,
    progress: bool = True,
    pretrain_dir: str | Path = "models/pretrain",
) -> dict:
    """Train the primary model (variant None) or an ablation variant; write its model directory.

    Under torchrun (after `distributed.setup()`) every rank calls this; rank 0 alone writes files and tracks.

    `seed` (default: params `seed`) retrains the same configuration from another initialisation and data
    order: the `seed@<s>` stages use it to measure the seed-to-seed spread of the primary model.
    With `model.init: pretrained` the encoder starts from `<pretrain_dir>/encoder.pt` (the pretrain stage)."""
    from dosforge.model.pretrained import ENCODER_FILE, model_init, read_pretrained_encoder
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed

    processed_dir, split_dir, out_dir = Path(processed_dir), Path(split_dir), Path(out_dir)
    require_inputs(processed_dir, split_dir)
    manifest_path = processed_dir / "manifest.json"
    name = variant or "primary"
    if seed is not None and int(seed) != int(params.get("seed", 0)):
        name = f"{name}-seed{int(seed)}"
    seed = int(params.get("seed", 0) if seed is None else seed)
    msection = model_section(params, variant)
    init = model_init(msection)
    try:
        model_config, train_section, grid = spectrum_configs(params, msection, variant, read_json(manifest_path))
    except phonon.VariantSkipped as exc:  # fermi/gap variants on phonon data: nothing to train
        return phonon.write_skipped(out_dir, name, str(exc))
    loss_config = build_loss_config(params.get("loss") or {})
    train_config = resolve_train_config(train_section)

    t0 = time.perf_counter()
    processed = load_processed(processed_dir)
    split = read_json(split_dir / "split.json")
    norm_path = split_dir / "normalization.json"
    normalizer = Normalizer.from_json(norm_path)
    manifest = processed.manifest
    load_s = time.perf_counter() - t0
    synthetic = bool(np.asarray(processed.synthetic).any())
    encoder_state, pretrained = None, None
    if init == "pretrained":  # checked before anything is written or tracked
        encoder_state, pretrained = read_pretrained_encoder(
            Path(pretrain_dir) / ENCODER_FILE, model_config=model_config, graph_params=graph_params(manifest)
        )
    encoder_sha256 = pretrained["sha256"] if pretrained else None

    resolved = {
        "name": name,
        "variant": variant or "primary",
        "seed": seed,
        "model": model_config.to_dict(),
        "train": train_config.as_dict(),
        "loss": params.get("loss") or {},
        "grid": grid,
        "init": init,
        "pretrained_encoder_sha256": encoder_sha256,  # a new pretraining invalidates a half-finished run
    }
    data_files = [manifest_path, split_dir / "split.json", norm_path]
    fp = ckpt.fingerprint(resolved, data_files, ckpt.library_sources())
    meta = {
        "name": name,
        "normalization": normalizer.stats,
        "grid": grid,
        "elements": training_elements(processed, split["train"]),
        "source": data_source(processed),
        "synthetic": synthetic,
        "graph_params": graph_params(manifest),
        # what a bin of the training spectra holds (preprocess.resample); manifests without it predate the
        # option, when bins were always averages
        "resample": manifest.get("resample", "average"),
        "data_fingerprint": ckpt.fingerprint({}, data_files),
        "init": init,
        "pretrained_encoder": pretrained,  # {path, sha256, info} with init=pretrained, else None
    }

    if tracker is not None and not distributed.is_main():
        raise ValueError("only rank 0 logs to MLflow: pass tracker=None on the other ranks (stages/train.py does)")
    if tracker is not None:
        previous = read_json(out_dir / "mlflow_run.json") if (out_dir / "mlflow_run.json").exists() else {}
        resume_id = previous.get("run_id") if ckpt.load_last(out_dir / ckpt.LAST, fp) is not None else None
        tags = {
            "dvc_stage": f"ablate@{variant}" if variant else ("train" if name == "primary" else f"seed@{seed}"),
            "variant": name,
            "git_commit": git_commit(),
            "data_source": meta["source"],
            "synthetic_labels": str(synthetic).lower(),
            "spectrum": phonon.spectrum(manifest),
        }
        tracker.start(run_name=name, tags=tags, run_id=resume_id)
        write_json(out_dir / "mlflow_run.json", tracker.info())
        tracker.log_params(resolved)

    status = "FAILED"
    try:
        model, summary, history = train_model(
            model_config=model_config,
            loss_config=loss_config,
            train_config=train_config,
            processed=processed,
            split=split,
            normalizer=normalizer,
            out_dir=out_dir,
            seed=seed,
            fingerprint=fp,
            meta=meta,
            tracker=tracker,
            on_epoch_end=on_epoch_end,
            progress=progress,
            encoder_state=encoder_state,
        )
        if not distributed.is_main():  # rank 0 alone writes the model directory
            status = "FINISHED"
            return summary
        write_json(out_dir / "history.json", history)
        predictions = predict_split(
            model, processed, split["test"], normalizer, batch_size=train_config.eval_batch_size
        )
        predictions.save(
            out_dir / "test_predictions.h5",
            attrs={
                "model": name,
                "source": meta["source"],
                "synthetic": synthetic,
                "tasks": ",".join(summary["tasks"]),
            },
        )
        summary.update(
            name=name, n_test=len(predictions), synthetic_labels=synthetic, source=meta["source"], load_seconds=load_s
        )
        summary.update(init=init, pretrained_encoder_sha256=encoder_sha256)
        write_json(out_dir / "summary.json", summary)
        if tracker is not None:
            tracker.log_metrics({"best_epoch": summary["best_epoch"], "best_score": summary["best_score"]}, step=0)
            for f in (ckpt.BEST, "history.json", "summary.json"):
                tracker.log_artifact(out_dir / f)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if tracker is not None:
            tracker.end(status)
    return summary


def spectrum_configs(params: dict, msection: dict, variant: str | None, manifest: dict):
    """(ModelConfig, `train:` section, grid dict) for the spectrum the processed data holds.

    Electron DOS: `model`, `train` and the energy `grid` as they are. Phonon DOS: dosforge.train.phonon's
    changes (its tasks, patch count and epochs, the manifest's frequency grid); raises its VariantSkipped."""
    if phonon.spectrum(manifest) != "phonon":
        return build_model_config(params, msection), params.get("train"), EnergyGrid.from_params(params).as_dict()
    msection = phonon.model_section(params, msection, variant)
    points, step, grid = phonon.grid_of(manifest)
    gap_k = float((params.get("loss") or {}).get("gap_k", 10.0))
    return ModelConfig.from_section(msection, bins=points, de=step, gap_k=gap_k), phonon.train_section(params), grid


def require_inputs(processed_dir: Path, split_dir: Path) -> None:
    for p in (processed_dir / "manifest.json", split_dir / "split.json", split_dir / "normalization.json"):
        if not p.exists():
            raise ConfigError(f"{p} is missing: run `dvc repro split` first")
