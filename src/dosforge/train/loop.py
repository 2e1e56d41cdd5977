"""The training loop: epochs, validation, model selection (paper appendix B), checkpoints, tracking.

Reproducibility: the model is initialised from `seed`; each epoch reseeds data order and dropout
from (seed, epoch) (`dosforge.train.data.epoch_seed`), so an uninterrupted run and one resumed
from `last.pt` take identical steps. CPU threads are fixed and deterministic algorithms requested.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from dosforge.config import ConfigError
from dosforge.metrics import wasserstein_bins
from dosforge.train import checkpoint as ckpt
from dosforge.train import distributed
from dosforge.train.batchnorm import RunningStatsReplay
from dosforge.train.config import TrainConfig
from dosforge.train.data import SplitDataset, epoch_seed
from dosforge.train.inference import collect
from dosforge.train.plan import step_plan, steps_per_epoch
from dosforge.train.step import StepRunner

SPECTRAL = ("dos", "epdos")
STALE_ON_FRESH_START = (ckpt.BEST, ckpt.LAST, "history.json", "summary.json", "test_predictions.h5")


class TrainingDiverged(RuntimeError):
    """Training produced NaN/inf (training loss, validation losses or validation predictions), or no epoch
    gave a finite selection score, so there is no best checkpoint. The message names the model, the epoch
    and what to try."""

    def __init__(self, name: str, epoch: int, epochs: int, what: str, max_lr: float):
        self.name, self.epoch, self.what = name, epoch, what
        super().__init__(
            f"{name}: training diverged at epoch {epoch}/{epochs}: {what}. Try a lower learning rate "
            f"(train.max_lr, now {max_lr:g}, e.g. {max_lr / 3:.2g}) and check the data (NaN/inf or extreme "
            "values in data/processed or in data/split/normalization.json); last.pt keeps the last finite epoch"
        )


def resolve_device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is visible; use train.device=auto or cpu")
    kind = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    if kind == "cuda" and distributed.is_initialized():
        return torch.device("cuda", distributed.local_rank())  # one device per torchrun process
    return torch.device(kind)


def check_distributed(cfg: TrainConfig, device: torch.device, world: int) -> None:
    """Reject settings whose meaning would depend on the number of processes, or that torch cannot run."""
    if world > 1 and cfg.micro_batch_size is None:
        raise ConfigError(
            f"{world} processes but train.micro_batch_size is null (one forward pass per step, nothing to share): "
            f"set train.micro_batch_size so that batch_size / micro_batch_size >= {world}, e.g. "
            f"{max(1, cfg.batch_size // world)} (results then do not depend on the number of processes)"
        )
    if cfg.sync_bn and device.type != "cuda":
        raise ConfigError(
            "train.sync_bn needs CUDA: torch.nn.SyncBatchNorm refuses CPU tensors; set train.sync_bn: false "
            "(micro-batch BatchNorm, identical for any number of processes)"
        )


def set_determinism(cfg: TrainConfig) -> None:
    torch.set_num_threads(cfg.num_threads)
    if cfg.deterministic:
        # warn_only: an op without a deterministic kernel warns instead of stopping training
        torch.use_deterministic_algorithms(True, warn_only=True)


def make_scheduler(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    """OneCycleLR per optimizer step (appendix B): max_lr/25 -> max_lr over 25% of steps, cosine to max_lr/1e4
    (paper preset: 4e-5 -> 1e-3 -> 1e-7; cpu preset: 1.2e-4 -> 3e-3 -> 3e-7)."""
    total = cfg.epochs * steps_per_epoch
    # OneCycleLR needs a warm-up phase of at least one step (pct_start * total > 1); a smoke-test run
    # shorter than that follows the first steps of the shortest valid schedule instead of failing.
    minimum = math.floor(1.0 / cfg.pct_start) + 1
    if total < minimum:
        warnings.warn(
            f"only {total} optimizer steps (train.epochs x batches): the OneCycle schedule is laid out over "
            f"{minimum} steps and stops early; raise train.epochs for the full schedule",
            stacklevel=2,
        )
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=cfg.max_lr,
        total_steps=max(total, minimum),
        pct_start=cfg.pct_start,
        anneal_strategy=cfg.anneal_strategy,
        div_factor=cfg.div_factor,
        final_div_factor=cfg.final_div_factor,
    )


def make_optimizer(model, cfg: TrainConfig):
    # fused: one kernel over all ~330 parameter tensors instead of a loop of small ops (CPU: 32 -> 6 ms a step
    # for the small model, about 7% of a batch-16 step); same update rule, rounding may differ in the last bits
    return torch.optim.AdamW(model.parameters(), lr=cfg.max_lr, weight_decay=cfg.weight_decay, fused=True)


def selection_rule(tasks) -> str:
    """Appendix B "Model selection": which validation quantity picks the best checkpoint.

    - DOS + EPDOS (2-task): WD_DOS + WD_EPDOS on denormalised validation spectra ("wd_sum").
    - one task: that task's validation loss ("loss:<task>"), for DOS / EPDOS its MAE term (`_data_term`).
    - any other task set (4-task in the paper): the sum of raw, unweighted task losses ("loss_sum"), with the
      spectral tasks' MAE terms (`_data_term`).
    """
    tasks = set(tasks)
    if tasks == set(SPECTRAL):
        return "wd_sum"
    if len(tasks) == 1:
        return f"loss:{next(iter(tasks))}"
    return "loss_sum"


def validation_wd(predictions) -> dict[str, float]:
    """Mean WD (bins) of DOS over materials and of EPDOS over (material, element) pairs."""
    out = {}
    if np.isfinite(predictions.dos_pred).all() and len(predictions):
        out["wd_dos"] = float(wasserstein_bins(predictions.dos_pred, predictions.dos_true).mean())
    if np.isfinite(predictions.epdos_pred).all() and len(predictions.epdos_pred):
        out["wd_epdos"] = float(wasserstein_bins(predictions.epdos_pred, predictions.epdos_true).mean())
    return out


def selection_score(tasks, val_losses: dict[str, float], val_wd: dict[str, float]) -> float:
    """The selection quantity of `selection_rule`; NaN when a value it needs is missing or non-finite
    (`validation_wd` leaves out a WD whose predictions are not finite), which the loop reports."""
    rule = selection_rule(tasks)
    if rule == "wd_sum":
        return val_wd.get("wd_dos", math.nan) + val_wd.get("wd_epdos", math.nan)
    if rule.startswith("loss:"):
        return val_losses.get(_data_term(rule.split(":", 1)[1], val_losses), math.nan)
    return sum(val_losses.get(_data_term(t, val_losses), math.nan) for t in tasks)


def _data_term(task: str, val_losses: dict[str, float]) -> str:
    """The loss key selection reads for `task`: a spectral task's MAE term (`<task>_mae`) when reported.

    Our reading of appendix B's "raw task losses": the data terms, without the patch-wise structural
    regulariser, whose gradient-based weights (alpha, beta, gamma) are recomputed on every batch. With them
    the 4-task selection picked epoch 12 of 16 in a run whose validation WDs and Fermi MAE were all better
    at epoch 16 (docs/training.md)."""
    key = f"{task}_mae"
    return key if key in val_losses else task


def training_divergence(train_losses: dict[str, float]) -> str | None:
    """What went non-finite in an epoch's mean training losses (for the error message), or None."""
    bad = sorted(k for k, v in train_losses.items() if not math.isfinite(v))
    return f"the training loss is not finite ({', '.join(bad)})" if bad else None


def validation_divergence(tasks, val_losses: dict[str, float], val_wd: dict, score: float) -> str | None:
    """What went non-finite in an epoch's validation (for the error message), or None when all is finite."""
    bad = sorted(k for k, v in val_losses.items() if not math.isfinite(v))
    if bad:
        return f"the validation loss is not finite ({', '.join(bad)})"
    if selection_rule(tasks) == "wd_sum":
        missing = [f"wd_{t}" for t in SPECTRAL if f"wd_{t}" not in val_wd]
        if missing:
            return f"the validation predictions are not finite (no {', '.join(missing)})"
    if not math.isfinite(score):
        return f"the selection score ({selection_rule(tasks)}) is {score}"
    return None


def _config_dict(cfg) -> dict:
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    return dataclasses.asdict(cfg)


def train_model(
    *,
    model_config,
    loss_config,
    train_config: TrainConfig,
    processed,
    split: dict,
    normalizer,
    out_dir: str | Path,
    seed: int,
    fingerprint: str,
    meta: dict,
    tracker=None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    progress: bool = True,
    encoder_state: dict | None = None,
):
    """Train one model; returns (model holding the best weights, summary dict).

    Writes `last.pt` every epoch and `best.pt` on improvement under `out_dir`; resumes from a
    `last.pt` whose fingerprint matches. `meta` (plain values) goes into `best.pt` for inference.
    `encoder_state` (model.init=pretrained, checked by `dosforge.model.pretrained.read_pretrained_encoder`)
    replaces the seeded encoder weights before training; everything is then fine-tuned end to end.
    """
    from dosforge.model import DOSForge
    from dosforge.model.pretrained import load_encoder_state

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = train_config
    set_determinism(cfg)
    device = resolve_device(cfg)
    rank, world = distributed.rank(), distributed.world_size()
    check_distributed(cfg, device, world)
    tasks = list(model_config.tasks)
    rule = selection_rule(tasks)

    torch.manual_seed(seed)
    model = DOSForge(model_config)
    if encoder_state is not None:  # after the seeded build, so decoders and heads are initialised as from scratch
        load_encoder_state(model.encoder, encoder_state)
    model.set_normalization(normalizer)  # gap_head=extract runs Algorithm 1 on the denormalised DOS
    if cfg.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    optimizer = make_optimizer(model, cfg)
    train_ds = SplitDataset(processed, split["train"])
    val_ds = SplitDataset(processed, split["val"])
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError(f"train and val splits must be non-empty (train {len(train_ds)}, val {len(val_ds)})")
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch(len(train_ds), cfg.batch_size))

    history: list[dict] = []
    best = {"score": math.inf, "epoch": -1}
    start_epoch = 0
    state = ckpt.load_last(out_dir / ckpt.LAST, fingerprint)
    if state is not None:
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        ckpt.restore_rng(state)
        history, best, start_epoch = state["history"], state["best"], state["epoch"] + 1
    starts = distributed.all_gather_objects(start_epoch)
    if len(set(starts)) != 1:
        raise RuntimeError(f"the processes read different resume states from {out_dir / ckpt.LAST} (epochs {starts})")
    distributed.barrier()  # every rank has read last.pt before rank 0 may delete it
    if state is None and rank == 0:  # a fresh start: files from another configuration must not survive
        for stale in STALE_ON_FRESH_START:
            (out_dir / stale).unlink(missing_ok=True)
    net = model
    if world > 1:
        # parameters are identical on every rank (same seed, same last.pt); BatchNorm buffers are kept identical
        # by RunningStatsReplay (or SyncBatchNorm), so DDP need not broadcast them before every forward.
        # find_unused_parameters: a 1-layer encoder computes an edge update it never uses; DDP then leaves the
        # .grad of such globally unused parameters None, as one process does (AdamW skips them either way)
        net = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
            find_unused_parameters=True,
        )
    replay = RunningStatsReplay(model) if cfg.micro_batch_size is not None and not cfg.sync_bn else None

    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if cfg.bf16 and device.type == "cuda" else contextlib.nullcontext()
    )
    full_meta = dict(meta, model_config=_config_dict(model_config), tasks=tasks, selection_rule=rule, seed=seed)
    name = str(meta.get("name", "model"))

    def finish_epoch(epoch: int, t0: float, lr_start: float, seen_by_rank: list, best: dict) -> dict:
        """Rank 0's end of an epoch: training losses of all ranks' micro-batches (summed in plan order, so the numbers
        do not depend on the number of processes), validation, selection, checkpoints, history and tracking. Returns
        the status every rank acts on: {"record", "best"} or {"diverged": what}."""
        sums: dict[str, float] = {}
        n_seen = 0
        for _step, _micro, b, losses in sorted((r for part in seen_by_rank for r in part), key=lambda r: r[:2]):
            n_seen += b
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v * b
        train_losses = {k: v / n_seen for k, v in sums.items()}
        # checked once per epoch, after its last step (a per-step check would sync the device every batch):
        # NaN weights stay NaN, so nothing later in the run could recover; stop before writing last.pt,
        # which keeps the last finite epoch
        what = training_divergence(train_losses)
        if what:
            return {"diverged": what}

        with autocast:
            val_pred, val_losses = collect(model, val_ds, normalizer, cfg.eval_batch_size, device, loss_config)
        val_wd = validation_wd(val_pred)
        score = selection_score(tasks, val_losses, val_wd)
        what = validation_divergence(tasks, val_losses, val_wd, score)
        if what:
            return {"diverged": what}
        record = {"epoch": epoch + 1, "lr": lr_start, "score": score, "time_s": time.perf_counter() - t0}
        record.update({f"train_{k}" if k != "total" else "train_loss": v for k, v in train_losses.items()})
        record.update({f"val_{k}" if k != "total" else "val_loss": v for k, v in val_losses.items()})
        record.update({f"val_{k}": v for k, v in val_wd.items()})
        history.append(record)

        if score < best["score"]:
            best = {"score": float(score), "epoch": epoch + 1}
            ckpt.save_best(out_dir / ckpt.BEST, model=model, meta=dict(full_meta, epoch=epoch + 1, score=float(score)))
        ckpt.save_last(
            out_dir / ckpt.LAST, model=model, optimizer=optimizer, scheduler=scheduler,
            epoch=epoch, best=best, history=history, fingerprint=fingerprint,
        )  # fmt: skip
        if tracker is not None:
            tracker.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=epoch + 1)
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}/{cfg.epochs}  train {record['train_loss']:.4f}  val {record.get('val_loss', 0):.4f}"
                f"  score({rule}) {score:.4f}  {record['time_s']:.1f}s"
            )
        return {"record": record, "best": best}

    runner = StepRunner(
        net, model, optimizer, train_ds, normalizer, device, autocast, loss_config, replay, cfg.grad_clip,
        rank=rank, world=world, pad_to_share=cfg.sync_bn,
    )  # fmt: skip
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(epoch_seed(seed, epoch, stream=1))  # dropout RNG depends on (seed, epoch) only
        model.train()
        lr_start = optimizer.param_groups[0]["lr"]
        plan = step_plan(len(train_ds), cfg.batch_size, cfg.micro_batch_size, seed, epoch)
        seen: list = []  # (step, micro-batch, size, losses) of this rank's micro-batches
        bar = tqdm(plan, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not progress or rank != 0)
        for step, micro_batches in enumerate(bar):
            losses = runner.run(micro_batches, step, seen)
            scheduler.step()
            if losses is not None:
                bar.set_postfix(loss=f"{float(losses['total'].detach()):.4f}")
        seen_by_rank = distributed.gather_objects(seen)

        status = None
        if rank == 0:  # validation, checkpoints, history, tracking: rank 0 alone; the others wait for its status
            try:
                status = finish_epoch(epoch, t0, lr_start, seen_by_rank, best)
            except Exception as exc:
                distributed.broadcast_object({"failed": f"{type(exc).__name__}: {exc}"})
                raise
        status = distributed.broadcast_object(status)
        if "failed" in status:
            raise RuntimeError(f"{name}: rank 0 failed at epoch {epoch + 1}: {status['failed']}")
        if "diverged" in status:
            raise TrainingDiverged(name, epoch + 1, cfg.epochs, status["diverged"], cfg.max_lr)
        record, best = status["record"], status["best"]
        if rank != 0:
            history.append(record)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    # every non-finite epoch raises above, so these guard against a bare error from loading a best.pt
    # that was never written (or was deleted between a kill and the resume)
    if best["epoch"] < 0:
        what = f"no epoch gave a finite selection score ({rule}), so there is no best.pt"
        raise TrainingDiverged(name, len(history), cfg.epochs, what, cfg.max_lr)
    if not (out_dir / ckpt.BEST).is_file():
        raise FileNotFoundError(
            f"{name}: {out_dir / ckpt.BEST} is missing although epoch {best['epoch']} was the best; "
            f"delete {out_dir / ckpt.LAST} and train again"
        )
    best_state = ckpt.load_checkpoint(out_dir / ckpt.BEST)
    model.load_state_dict(best_state["model_state"])
    model.eval()
    summary = {
        "tasks": tasks,
        "selection_rule": rule,
        "best_epoch": best["epoch"],
        "best_score": best["score"],
        "epochs": cfg.epochs,
        "resumed_after_epoch": start_epoch if start_epoch else None,  # epochs done before this process (None: fresh)
        "n_train": len(train_ds),
        "n_val": len(val_ds),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "train_seconds_this_process": sum(h["time_s"] for h in history[start_epoch:]),
        "final": history[-1] if history else None,
    }
    return model, summary, history
