"""One pretraining stage: epochs of AdamW + OneCycle + clipping, validation, best/last checkpoints, tracking.

Resume: each epoch reseeds data order, posterior samples, t and noise from (seed, stage, epoch), and
`<stage>_last.pt` (written atomically after every epoch) holds the module, optimizer and scheduler, so
a run killed after any epoch continues to the same weights as an uninterrupted one. A last.pt whose
fingerprint differs (other params, corpus or code) is ignored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from dosforge.pretrain.masking import collate_pretrain
from dosforge.train import checkpoint as ckpt
from dosforge.train.data import epoch_seed

STREAMS = {"vae": 11, "ldm": 12}


def to_device(batch, extras: dict, device):
    return batch.to(device), {k: v.to(device) for k, v in extras.items()}


def loader(dataset, batch_size: int, seed: int | None = None) -> DataLoader:
    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(seed)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=seed is not None, generator=generator, collate_fn=collate_pretrain
    )


def param_groups(module: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases, norm parameters and the mask vector (1-D tensors; the code's group_decay)."""
    decay, no_decay = [], []
    for p in module.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def one_cycle(optimizer, lr: float, total: int, pct_start: float):
    # OneCycle needs pct_start * total > 1; a tiny run follows the start of the shortest valid schedule
    total = max(total, math.floor(1.0 / pct_start) + 1)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=pct_start)


@torch.no_grad()
def evaluate(module, dataset, batch_size: int, device, seed: int) -> dict[str, float]:
    """Mean of each reported quantity over the validation set, weighted by structures; fixed random draws."""
    module.eval()
    torch.manual_seed(seed)
    sums, n = {}, 0
    for batch, extras in loader(dataset, batch_size):
        batch, extras = to_device(batch, extras, device)
        out = module(batch, extras)
        b = int(batch.num_graphs)
        n += b
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v) * b
    module.train()
    return {k: v / n for k, v in sums.items()}


def run_stage(
    stage: str,
    module: torch.nn.Module,
    train_ds,
    val_ds,
    cfg: dict,
    *,
    pct_start: float,
    seed: int,
    device,
    out_dir: Path,
    fingerprint: str,
    tracker=None,
    step_offset: int = 0,
    progress: bool = True,
    after_epoch: Callable[[int], dict] | None = None,
    on_epoch_end: Callable[[str, int, dict], None] | None = None,
) -> list[dict]:
    """Train `module` (whose forward returns a dict with `loss`) for cfg["epochs"]; returns the stage's history.

    Leaves `module` holding the weights of the best validation loss (`<stage>_best.pt`)."""
    epochs, batch_size = int(cfg["epochs"]), int(cfg["batch_size"])
    last_path, best_path = out_dir / f"{stage}_last.pt", out_dir / f"{stage}_best.pt"
    module.to(device)
    optimizer = torch.optim.AdamW(param_groups(module, float(cfg["weight_decay"])), lr=float(cfg["lr"]))
    steps = math.ceil(len(train_ds) / batch_size)
    scheduler = one_cycle(optimizer, float(cfg["lr"]), epochs * steps, pct_start)
    history, best, start = [], {"loss": math.inf, "epoch": 0}, 0
    state = ckpt.load_last(last_path, fingerprint)
    if state is not None:
        module.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        history, best, start = state["history"], state["best"], state["epoch"] + 1
    else:  # a fresh start: a best checkpoint of another configuration must not be picked up
        best_path.unlink(missing_ok=True)
    stream = STREAMS[stage]
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        module.train()
        torch.manual_seed(epoch_seed(seed, epoch, stream=stream))
        data = loader(train_ds, batch_size, seed=epoch_seed(seed, epoch, stream=stream + 100))
        lr = optimizer.param_groups[0]["lr"]
        sums, n = {}, 0
        for batch, extras in tqdm(data, desc=f"{stage} {epoch + 1}/{epochs}", leave=False, disable=not progress):
            batch, extras = to_device(batch, extras, device)
            out = module(batch, extras)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            if cfg.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(module.parameters(), float(cfg["grad_clip"]))
            optimizer.step()
            scheduler.step()
            b = int(batch.num_graphs)
            n += b
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * b
        train = {k: v / n for k, v in sums.items()}
        if not math.isfinite(train["loss"]):
            raise FloatingPointError(
                f"pretraining {stage} diverged at epoch {epoch + 1}: training loss {train['loss']}; "
                f"lower pretrain.{stage}.lr (now {cfg['lr']:g})"
            )
        val = evaluate(module, val_ds, batch_size, device, seed=epoch_seed(seed, 0, stream=stream + 200))
        record = {"stage": stage, "epoch": epoch + 1, "lr": lr}
        record.update({f"train_{k}": v for k, v in train.items()})
        record.update({f"val_{k}": v for k, v in val.items()})
        if after_epoch is not None:
            record.update(after_epoch(epoch))  # may raise (the collapse guard) before last.pt is written
        record["time_s"] = time.perf_counter() - t0
        history.append(record)
        if val["loss"] < best["loss"]:
            best = {"loss": float(val["loss"]), "epoch": epoch + 1}
            ckpt.save_best(best_path, model=module, meta={"stage": stage, "epoch": epoch + 1})
        ckpt.save_last(
            last_path, model=module, optimizer=optimizer, scheduler=scheduler,
            epoch=epoch, best=best, history=history, fingerprint=fingerprint,
        )  # fmt: skip
        if tracker is not None:
            metrics = {f"{stage}.{k}": v for k, v in record.items() if isinstance(v, float | int) and k != "epoch"}
            tracker.log_metrics(metrics, step=step_offset + epoch + 1)
        if progress:
            tqdm.write(
                f"{stage} epoch {epoch + 1}/{epochs}  train {train['loss']:.4f}  val {val['loss']:.4f}"
                f"  {record['time_s']:.1f}s"
            )
        if on_epoch_end is not None:
            on_epoch_end(stage, epoch, record)
    if best_path.is_file():
        module.load_state_dict(ckpt.load_checkpoint(best_path)["model_state"])
    return history
