"""CrysLDNet pretraining end to end: corpus -> stage 1 (VAE) -> stage 2 (latent flow matching) -> encoder.pt.

Writes into `out_dir` (models/pretrain): encoder.pt (the format of `dosforge.model.pretrained`, which the
train stage loads with model.init=pretrained), history.json (one record per epoch of either stage),
summary.json, corpus.json (counts, rejects with reasons), mlflow_run.json, and for resuming
corpus.pt, vae_last.pt / vae_best.pt, ldm_last.pt / ldm_best.pt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from dosforge.config import ConfigError
from dosforge.io import atomic_path, read_json, write_json
from dosforge.model.config import ModelConfig
from dosforge.model.encoder import ICoMFormerEncoder
from dosforge.model.pretrained import ENCODER_FILE, save_pretrained_encoder
from dosforge.pretrain.config import resolve_pretrain_config
from dosforge.pretrain.corpus import build_corpus, read_split
from dosforge.pretrain.dit import DiT
from dosforge.pretrain.flow import LatentFlow
from dosforge.pretrain.latent import check_collapse, latent_stats
from dosforge.pretrain.loop import loader, run_stage
from dosforge.pretrain.masking import MaskedDataset, PlainDataset
from dosforge.pretrain.vae import EncoderVAE, baselines
from dosforge.train import checkpoint as ckpt

CODE = ("pretrain", "model/encoder.py", "model/features.py", "graph.py")


def code_files() -> list[Path]:
    root = Path(__file__).resolve().parents[1]
    files = []
    for name in CODE:
        path = root / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("pretrain.device=cuda but no CUDA device is visible; use auto or cpu")
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))


def load_or_build_corpus(params, cfg, split, seed, out_dir: Path, split_dir: Path, progress, client_factory) -> dict:
    """The corpus, cached in corpus.pt under a fingerprint of what it depends on (a resume skips the rebuild)."""
    deps = {"data": cfg["data"], "graph": params.get("graph"), "seed": seed, "mp": params.get("mp")}
    from dosforge.sources.embedded import BUNDLE

    fp = ckpt.fingerprint(deps, [split_dir / "split.json", BUNDLE], code_files())
    path = out_dir / "corpus.pt"
    if path.is_file():
        cached = torch.load(path, weights_only=False)  # our own file
        if cached.get("fingerprint") == fp:
            return cached["corpus"]
    corpus = build_corpus(params, cfg["data"], split, seed, progress=progress, client_factory=client_factory)
    with atomic_path(path) as tmp:
        torch.save({"fingerprint": fp, "corpus": corpus}, tmp)
    return corpus


def run_pretraining(
    params: dict,
    *,
    split_dir: str | Path,
    out_dir: str | Path,
    mlflow: bool = True,
    tracker=None,
    progress: bool = True,
    client_factory=None,
    on_epoch_end: Callable[[str, int, dict], None] | None = None,
) -> dict:
    split_dir, out_dir = Path(split_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = resolve_pretrain_config(params.get("pretrain"))
    seed = int(params.get("seed", 0))
    model_config = ModelConfig.from_params(params)
    graph_params = {k: (params.get("graph") or {})[k] for k in ("cutoff", "max_neighbors")}
    torch.set_num_threads(int(cfg["num_threads"]))
    device = resolve_device(cfg["device"])

    t0 = time.perf_counter()
    split = read_split(split_dir)
    corpus = load_or_build_corpus(params, cfg, split, seed, out_dir, split_dir, progress, client_factory)
    data_s = time.perf_counter() - t0
    report = corpus["report"]
    vae_train = MaskedDataset(corpus["train"], cfg["vae"]["mask_ratio"], seed, cfg["vae"]["min_sites"])
    vae_val = MaskedDataset(corpus["val"], cfg["vae"]["mask_ratio"], seed + 1, cfg["vae"]["min_sites"])
    report["vae_skipped_below_min_sites"] = vae_train.n_skipped + vae_val.n_skipped
    write_json(out_dir / "corpus.json", {**report, "rejects": corpus["rejects"]})

    resolved = {
        "pretrain": cfg,
        "seed": seed,
        "encoder": model_config.encoder,
        "atom_features": model_config.atom_features,
        "graph": graph_params,
        "corpus": report["ids_sha256"],
    }
    fp = ckpt.fingerprint(resolved, [split_dir / "split.json"], code_files())
    if tracker is None and mlflow:
        from dosforge.train.tracking import Tracker

        tracker = Tracker()
    if tracker is not None:
        from dosforge.train.tracking import git_commit

        previous = read_json(out_dir / "mlflow_run.json") if (out_dir / "mlflow_run.json").exists() else {}
        resumable = any(ckpt.load_last(out_dir / f"{s}_last.pt", fp) is not None for s in ("vae", "ldm"))
        tags = {"dvc_stage": "pretrain", "method": "crysldnet", "git_commit": git_commit()}
        tracker.start(run_name="pretrain", tags=tags, run_id=previous.get("run_id") if resumable else None)
        write_json(out_dir / "mlflow_run.json", tracker.info())
        tracker.log_params(resolved)

    status = "FAILED"
    try:
        torch.manual_seed(seed)
        enc = model_config.encoder
        encoder = ICoMFormerEncoder(
            enc["d"], enc["layers"], enc["heads"], enc["rbf_bins"], enc["angle_bins"], model_config.atom_features
        )
        common = {
            "pct_start": float(cfg["pct_start"]),
            "seed": seed,
            "device": device,
            "out_dir": out_dir,
            "fingerprint": fp,
            "tracker": tracker,
            "progress": progress,
            "on_epoch_end": on_epoch_end,
        }
        t1 = time.perf_counter()
        vae = EncoderVAE(encoder, enc["d"], float(cfg["vae"]["kl_weight"]))
        history = run_stage("vae", vae, vae_train, vae_val, cfg["vae"], **common)
        vae_s = time.perf_counter() - t1

        t2 = time.perf_counter()
        probe = loader(PlainDataset(corpus["val"]), int(cfg["ldm"]["batch_size"]))
        start = latent_stats(encoder, probe, device)  # deterministic: the same on a resume
        check_collapse(start, 0.0, 0.0, "at the start of stage 2")
        dit = DiT(enc["d"], **{k: int(v) for k, v in cfg["ldm"]["dit"].items()})
        flow = LatentFlow(encoder, dit, float(cfg["ldm"]["min_t"]), float(cfg["ldm"]["t_clip"]))

        def guard(epoch: int) -> dict:
            stats = latent_stats(encoder, probe, device)
            check_collapse(
                stats, start["latent_std_mean"], float(cfg["ldm"]["collapse_ratio"]), f"at epoch {epoch + 1}"
            )
            return {**stats, "latent_std_ratio": stats["latent_std_mean"] / start["latent_std_mean"]}

        ldm_data = (PlainDataset(corpus["train"]), PlainDataset(corpus["val"]))
        history += run_stage(
            "ldm", flow, *ldm_data, cfg["ldm"], step_offset=int(cfg["vae"]["epochs"]), after_epoch=guard, **common
        )
        ldm_s = time.perf_counter() - t2
        final = {s: next((h for h in reversed(history) if h["stage"] == s), None) for s in ("vae", "ldm")}
        info = {
            "method": "crysldnet",
            "stages": ["vae", "ldm"],
            "preset": cfg["preset"],
            "fingerprint": fp,
            "corpus": {k: report[k] for k in ("n_structures", "n_train", "n_val", "by_source", "ids_sha256")},
        }
        sha = save_pretrained_encoder(
            out_dir / ENCODER_FILE, encoder, model_config=model_config, graph_params=graph_params, info=info
        )
        summary = {
            "encoder_sha256": sha,
            "corpus": report,
            "baselines": baselines(corpus["val"]),
            "latent_start": start,
            "final": final,
            "epochs": {"vae": int(cfg["vae"]["epochs"]), "ldm": int(cfg["ldm"]["epochs"])},
            "n_parameters": {
                "encoder": sum(p.numel() for p in encoder.parameters()),
                "dit": sum(p.numel() for p in dit.parameters()),
            },
            "seconds": {"data": data_s, "vae": vae_s, "ldm": ldm_s},
            "device": str(device),
            "message": f"{report['n_structures']} structures, encoder.pt sha256 {sha[:12]}",
        }
        write_json(out_dir / "history.json", history)
        write_json(out_dir / "summary.json", summary)
        if tracker is not None:
            tracker.log_params({"encoder_sha256": sha})
            for f in (ENCODER_FILE, "summary.json", "corpus.json"):
                tracker.log_artifact(out_dir / f)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if tracker is not None:
            tracker.end(status)
    return summary
