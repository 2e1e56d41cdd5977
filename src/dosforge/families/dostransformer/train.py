"""Training unit of the DOSTransformer baseline on DOSForge's protocol (stage `baseline@dostransformer`).

Same processed data, grid, split and normalisation as the DOSForge models (`data/split/normalization.json`; the
loss runs on the normalised total DOS), total DOS only. Loss RMSE_global + β RMSE_system per material (supplement
Algorithm 1); model selection on the validation RMSE of the system branch (the predicting one), early stopping after
`patience` epochs without improvement. Writes the model directory the DOSForge models write: best.pt (naming its
family), history.json, summary.json, test_predictions.h5 (`dosforge.predictions.Predictions`, EPDOS/E_F/E_g NaN,
attribute tasks="dos") and, with a tracker, mlflow_run.json. On phonon data (manifest `spectrum`) the graphs, batches
and processor are the phDOS ones (inputs.py) and the grid is the manifest's frequency grid.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from dosforge.config import ConfigError, choice, known_keys
from dosforge.families.dostransformer.data import GraphSample, collate
from dosforge.families.dostransformer.features import GAUSSIAN_STEP, MAX_NEIGHBORS, RADIUS
from dosforge.families.dostransformer.inputs import ELECTRON, PHONON_GRAPH, SpectrumInputs, inputs_for
from dosforge.families.dostransformer.model import (
    N_SYSTEMS,
    DOSTransformer,
    DOSTransformerConfig,
    dostransformer_loss,
)
from dosforge.grid import EnergyGrid
from dosforge.io import read_json, write_json
from dosforge.predictions import Predictions

FAMILY = "dostransformer"


@dataclass(frozen=True)
class DTTrainConfig:
    preset: str
    d: int
    ffn_mult: int
    lr: float
    weight_decay: float
    batch_size: int
    epochs: int  # cap
    patience: int  # early stopping: epochs without a better validation RMSE
    schedule: str = "constant"  # constant (paper) | cosine (decay to 0 over `epochs`)
    mp_layers: int = 3
    l1: int = 2
    l2: int = 2
    l3: int = 2
    beta: float = 1.0
    prompts: bool = True
    eval_batch_size: int = 64
    num_threads: int = 2
    device: str = "auto"


PRESETS = {
    # supplement C, Table 7 (electron DOS) and the notes §1.4: AdamW 1e-4, weight decay 1e-2, batch 8, no
    # schedule, early stopping after 50 epochs without improvement, at most 1,000 epochs, d = 256
    "paper": {"d": 256, "ffn_mult": 4, "lr": 1e-4, "weight_decay": 1e-2, "batch_size": 8, "epochs": 1000,
              "patience": 50, "schedule": "constant"},
    # the embedded default on a 2-core CPU in minutes (docs/dostransformer.md "The cpu preset")
    "cpu": {"d": 32, "ffn_mult": 4, "lr": 3e-3, "weight_decay": 1e-2, "batch_size": 16, "epochs": 24,
            "patience": 50, "schedule": "cosine"},
}  # fmt: skip
SECTION_KEYS = ("family", "preset", "graph", *(f.name for f in fields(DTTrainConfig) if f.name != "preset"))
GRAPH_KEYS = ("radius", "max_neighbors", "gaussian_step")


def resolve_config(section: dict | None) -> tuple[DTTrainConfig, dict]:
    """`baselines.<name>` (family dostransformer) -> (training config: preset then non-null overrides, graph params)."""
    section = dict(section or {})
    known_keys(section, SECTION_KEYS, "baselines.dostransformer")
    section.pop("family", None)
    preset = choice(section.pop("preset", "cpu"), PRESETS, "baselines.dostransformer.preset")
    graph = known_keys(dict(section.pop("graph", None) or {}), GRAPH_KEYS, "baselines.dostransformer.graph")
    graph = {"radius": RADIUS, "max_neighbors": MAX_NEIGHBORS, "gaussian_step": GAUSSIAN_STEP, **graph}
    values = {**PRESETS[preset], **{k: v for k, v in section.items() if v is not None}}
    types = {f.name: f.type for f in fields(DTTrainConfig)}
    casts = {"int": int, "float": float, "bool": bool, "str": str}
    try:
        values = {k: casts[types[k]](v) for k, v in values.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"baselines.dostransformer has a value of the wrong type: {exc}") from exc
    cfg = DTTrainConfig(preset=preset, **values)
    choice(cfg.schedule, ("constant", "cosine"), "baselines.dostransformer.schedule")
    choice(cfg.device, ("auto", "cpu", "cuda"), "baselines.dostransformer.device")
    if min(cfg.d, cfg.batch_size, cfg.epochs, cfg.eval_batch_size) < 1 or cfg.d % 2:
        raise ConfigError(f"baselines.dostransformer: d (even), batch_size, epochs must be positive, got {cfg}")
    return cfg, graph


def model_config(cfg: DTTrainConfig, n_tokens: int) -> DOSTransformerConfig:
    return DOSTransformerConfig(n_tokens=n_tokens, d=cfg.d, mp_layers=cfg.mp_layers, l1=cfg.l1, l2=cfg.l2, l3=cfg.l3,
                                ffn_mult=cfg.ffn_mult, prompt=cfg.prompts, beta=cfg.beta)  # fmt: skip


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def predict_normalised(model, samples: list[GraphSample], batch_size: int, device, collate=collate) -> np.ndarray:
    """(N, M) predictions of the predicting branch, normalised space (`collate`: the spectrum's, inputs.py)."""
    model.eval()
    out = []
    for k in range(0, len(samples), batch_size):
        out.append(model(collate(samples[k : k + batch_size]).to(device))["dos"].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.n_tokens), np.float32)


def val_rmse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.sqrt(((pred - target) ** 2).mean(-1)).mean())


def train_dostransformer(
    cfg: DTTrainConfig,
    samples: dict[str, list[GraphSample]],
    targets: dict[str, np.ndarray],
    *,
    seed: int,
    out_dir: Path,
    meta: dict,
    tracker=None,
    log=print,
    val_wd=None,
    inputs: SpectrumInputs = ELECTRON,
) -> tuple[DOSTransformer, dict, list[dict]]:
    """Train on samples/targets["train"], select on ["val"]; write best.pt into out_dir. Returns (best model,
    summary, history). `val_wd(pred_normalised) -> float`, when given, adds the validation WD to the history (a
    diagnostic; selection stays on the validation RMSE). `inputs`: the spectrum's graphs, batches and model."""
    torch.manual_seed(seed)
    device = _device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.num_threads)
    mcfg = replace(model_config(cfg, int(targets["train"].shape[1])), **inputs.shape)
    model = inputs.build(mcfg).to(device)
    if mcfg.prompt:
        seen = torch.zeros(N_SYSTEMS, dtype=torch.bool)
        seen[torch.tensor(sorted({s.system for s in samples["train"]}), dtype=torch.long)] = True
        model.trained_systems.copy_(seen)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_train = len(samples["train"])
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    rng = np.random.default_rng(seed)
    history, best, best_epoch, since = [], math.inf, -1, 0
    t_start = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        order = rng.permutation(n_train)
        loss_sum = {}
        for k in range(0, n_train, cfg.batch_size):
            idx = order[k : k + cfg.batch_size]
            batch = inputs.collate([samples["train"][i] for i in idx], targets["train"][idx]).to(device)
            losses = dostransformer_loss(model(batch), batch.target, cfg.beta)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            sched.step()
            for key, v in losses.items():
                loss_sum[key] = loss_sum.get(key, 0.0) + float(v.detach()) * len(idx)
        if not math.isfinite(loss_sum["total"]):
            raise FloatingPointError(f"dostransformer: the training loss diverged (NaN/inf) at epoch {epoch + 1}")
        train_s = time.perf_counter() - t0
        pred = predict_normalised(model, samples["val"], cfg.eval_batch_size, device, inputs.collate)
        v = val_rmse(pred, targets["val"])
        row = {"epoch": epoch + 1, "train_loss": loss_sum["total"] / n_train, "val_loss": v,
               **{f"train_{k}": s / n_train for k, s in loss_sum.items() if k != "total"},
               "lr": opt.param_groups[0]["lr"], "epoch_seconds": train_s}  # fmt: skip
        if val_wd is not None:
            row["val_wd_bins"] = float(val_wd(pred))
        history.append(row)
        improved = v < best
        if improved:
            best, best_epoch, since = v, epoch, 0
            best_meta = {**meta, "epoch": epoch, "score": v, "train": asdict(cfg), "spectrum": inputs.spectrum}
            save_best(out_dir / "best.pt", model, best_meta)
        else:
            since += 1
        wd = f" val WD {row['val_wd_bins']:.3f}" if "val_wd_bins" in row else ""
        log(f"dostransformer epoch {epoch + 1}/{cfg.epochs} train {row['train_loss']:.4f} val RMSE {v:.4f}{wd}"
            f"{' *' if improved else ''} ({train_s:.1f} s)")  # fmt: skip
        if tracker is not None:
            tracker.log_metrics({k: val for k, val in row.items() if k != "epoch"}, step=epoch + 1)
        if since >= cfg.patience:
            log(f"dostransformer: early stop after {cfg.patience} epochs without improvement")
            break
    model, _ = load_family_checkpoint(out_dir / "best.pt", device)
    summary = {"family": FAMILY, "best_epoch": best_epoch + 1, "best_score": best, "epochs_run": len(history),
               "train_seconds": time.perf_counter() - t_start, "n_train": n_train, "n_val": len(samples["val"]),
               "parameters": sum(p.numel() for p in model.parameters()), "tasks": ["dos"]}  # fmt: skip
    return model, summary, history


def save_best(path: Path, model: DOSTransformer, meta: dict) -> None:
    from dosforge.io import atomic_path

    state = {"model_family": FAMILY, "model_config": model.config.to_dict(), "tasks": ["dos"]}
    state["model_state"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state.update(meta)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_family_checkpoint(path, device="cpu"):
    """best.pt of this family -> (model in eval mode, the checkpoint dict without weights)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if state.get("model_family") != FAMILY:
        raise ValueError(f"{path} is a {state.get('model_family', 'dosforge')!r} checkpoint, not {FAMILY!r}")
    model = inputs_for(state.get("spectrum")).build(DOSTransformerConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model_state"])
    model.to(device).eval()
    return model, {k: v for k, v in state.items() if k != "model_state"}


def test_predictions(model, processed, rows, samples, normalizer, batch_size: int, device, collate=collate):
    """The test split in the Predictions format of the DOSForge models: total DOS in states/eV (negative values
    set to 0, as `dosforge.train.inference.denorm_outputs` does), every other task NaN."""
    normalised = predict_normalised(model, samples, batch_size, device, collate)
    pred = np.maximum(np.asarray(normalizer.denorm_dos(normalised)), 0.0)
    T = processed.dos.shape[1]
    e_lo, e_hi = processed.epdos_ptr[rows], processed.epdos_ptr[rows + 1]
    e_rows = np.concatenate([np.arange(a, b) for a, b in zip(e_lo, e_hi, strict=True)]) if len(rows) else []
    e_rows = np.asarray(e_rows, np.int64)
    nan = np.full(len(rows), np.nan, np.float32)
    return Predictions(
        ids=[processed.ids[i] for i in rows],
        formula=[processed.formula[i] for i in rows],
        dos_pred=pred.astype(np.float32),
        dos_true=np.asarray(processed.dos, np.float32)[rows],
        epdos_pred=np.full((len(e_rows), T), np.nan, np.float32),
        epdos_true=np.asarray(processed.epdos, np.float32)[e_rows],
        epdos_ptr=np.concatenate([[0], np.cumsum(e_hi - e_lo)]).astype(np.int64),
        epdos_z=np.asarray(processed.epdos_z, np.int64)[e_rows],
        fermi_pred=nan,
        fermi_true=np.asarray(processed.efermi, np.float32)[rows],
        gap_pred=nan.copy(),
        gap_true=np.asarray(processed.gap, np.float32)[rows],
        is_metal=np.asarray(processed.is_metal, bool)[rows],
    )


def run_baseline(params: dict, name: str, *, processed_dir, split_dir, out_dir, tracker=None, log=print) -> dict:
    """Train baseline `name` (params `baselines.<name>`, family dostransformer) into `out_dir`."""
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed
    from dosforge.train.run import data_source, require_inputs, training_elements

    processed_dir, split_dir, out_dir = Path(processed_dir), Path(split_dir), Path(out_dir)
    require_inputs(processed_dir, split_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    section = (params.get("baselines") or {}).get(name)
    if section is None:
        raise ConfigError(f"baselines.{name} is not in params.yaml; valid: {', '.join(params.get('baselines') or {})}")
    cfg, graph = resolve_config(section)
    seed = int(params.get("seed", 0))
    processed = load_processed(processed_dir)
    inputs = inputs_for(processed.manifest.get("spectrum"))
    if inputs.spectrum == "phonon":  # the frequency grid preprocess wrote (params `phonon`), the phDOS graph
        grid, graph = dict(processed.manifest["grid"]), dict(PHONON_GRAPH)
    else:
        grid = EnergyGrid.from_params(params).as_dict()
    if processed.dos.shape[1] != grid["bins"]:
        raise ConfigError(f"the processed DOS has {processed.dos.shape[1]} bins, grid.bins is {grid['bins']}")
    split = read_json(split_dir / "split.json")
    normalizer = Normalizer.from_json(split_dir / "normalization.json")
    t0 = time.perf_counter()
    rows = {part: np.sort(processed.indices(split[part])) for part in ("train", "val", "test")}
    samples = {part: inputs.samples(processed, r, graph) for part, r in rows.items()}
    targets = {part: np.asarray(normalizer.norm_dos(processed.dos[r]), np.float32) for part, r in rows.items()}
    graph_s = time.perf_counter() - t0
    synthetic = bool(np.asarray(processed.synthetic).any())
    meta = {"name": name, "normalization": normalizer.stats, "grid": grid,
            "elements": training_elements(processed, split["train"]), "source": data_source(processed),
            "synthetic": synthetic, "graph_params": graph, "split_strategy": split.get("strategy", "point_group"),
            "resample": processed.manifest.get("resample", "average"), "spectrum": inputs.spectrum}  # fmt: skip
    if tracker is not None:
        from dosforge.train.tracking import git_commit

        tracker.start(run_name=name, tags={"dvc_stage": f"baseline@{name}", "variant": name, "model_family": FAMILY,
                                           "git_commit": git_commit(), "data_source": meta["source"],
                                           "synthetic_labels": str(synthetic).lower(),
                                           "spectrum": inputs.spectrum})  # fmt: skip
        write_json(out_dir / "mlflow_run.json", tracker.info())
        tracker.log_params({"family": FAMILY, "train": asdict(cfg), "graph": graph, "seed": seed})
    val_true = processed.dos[rows["val"]]

    def val_wd(pred_normalised):
        from dosforge.metrics import wasserstein_bins

        return wasserstein_bins(np.asarray(normalizer.denorm_dos(pred_normalised)), val_true).mean()

    status = "FAILED"
    try:
        model, summary, history = train_dostransformer(
            cfg,
            samples,
            targets,
            seed=seed,
            out_dir=out_dir,
            meta=meta,
            tracker=tracker,
            log=log,
            val_wd=val_wd,
            inputs=inputs,
        )
        write_json(out_dir / "history.json", history)
        device = next(model.parameters()).device
        t1 = time.perf_counter()
        pred = test_predictions(model, processed, rows["test"], samples["test"], normalizer, cfg.eval_batch_size,
                                device, inputs.collate)  # fmt: skip
        infer_s = time.perf_counter() - t1
        attrs = {"model": name, "source": meta["source"], "synthetic": synthetic, "tasks": "dos", "family": FAMILY}
        pred.save(out_dir / "test_predictions.h5", attrs=attrs)
        summary.update(name=name, n_test=len(pred), synthetic_labels=synthetic, source=meta["source"])
        summary.update(graph_seconds=graph_s, test_inference_seconds=infer_s, config=asdict(cfg), graph=graph)
        write_json(out_dir / "summary.json", summary)
        if tracker is not None:
            tracker.log_metrics({"best_epoch": summary["best_epoch"], "best_score": summary["best_score"]}, step=0)
            for f in ("best.pt", "history.json", "summary.json"):
                tracker.log_artifact(out_dir / f)
        status = "FINISHED"
    finally:
        if tracker is not None:
            tracker.end(status)
    return summary


__all__ = ["DTTrainConfig", "PRESETS", "resolve_config", "run_baseline", "train_dostransformer"]
