"""Training benchmarks: figures for docs/training.md (printed, never asserted).

python benchmarks/bench_train.py throughput [--size paper] [--batch 64] [--steps 5]
    training throughput (structures/s: forward + backward + AdamW step) and peak memory of one
    model size on this machine, on batches of the processed data (data/processed, from `dvc repro
    preprocess`).
python benchmarks/bench_train.py wall [--models all|primary,cross2,...]
    wall time of the configured preset (params.yaml `train:`) training the given models on the
    processed data and split (`dvc repro split` first), in a temporary folder, without MLflow.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import torch  # noqa: E402

from dosforge.config import load_params  # noqa: E402
from dosforge.io import read_json  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def synthetic_processed(n: int, root: Path, seed: int = 0) -> tuple[Path, Path]:
    """A processed dir + split dir of `n` random supercells with made-up spectra (for timing only)."""
    import numpy as np
    from pymatgen.core import Lattice, Structure

    from dosforge.graph import build_graph
    from dosforge.grid import EnergyGrid
    from dosforge.io import write_json
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed, write_shard

    rng = np.random.default_rng(seed)
    fcc = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    prototypes = [(["Si", "Si"], 5.43), (["Na", "Cl"], 5.64), (["Ga", "As"], 5.65), (["Mg", "O"], 4.21)]
    grid = EnergyGrid()
    materials = []
    for i in range(n):
        species, a = prototypes[i % len(prototypes)]
        s = Structure(Lattice(fcc * a * rng.uniform(0.97, 1.03)), species, [[0, 0, 0], [0.25, 0.25, 0.25]])
        s.make_supercell([[1, 2][i % 2], [1, 2][(i // 2) % 2], [1, 2][(i // 4) % 2]])
        s.perturb(0.05)
        zs = sorted({site.specie.Z for site in s})
        e = grid.centers
        epdos = np.stack([np.exp(-0.5 * ((e - rng.uniform(-8, 8)) / 1.5) ** 2) * rng.uniform(1, 5) for _ in zs])
        materials.append(
            {"id": f"syn-{i}", "formula": s.composition.reduced_formula, "point_group": "m-3m", "source": "synthetic",
             "gap_origin": "", "synthetic": True, "is_metal": False, "efermi": float(rng.normal()),
             "gap": float(rng.uniform(0, 3)),
             "epdos_residual": 0.0, "dos": epdos.sum(0), "lattice": s.lattice.matrix, "epdos": epdos,
             "epdos_z": np.array(zs), "atomic_numbers": np.array(s.atomic_numbers), "cart_coords": s.cart_coords,
             "graph": build_graph(s, 4.0, 25)}
        )  # fmt: skip
    processed, split = root / "processed", root / "split"
    sha = write_shard(processed / "shard-00000.h5", materials)
    ids = [m["id"] for m in materials]
    manifest = {"ids": ids, "grid": grid.as_dict(), "shards": [{"file": "shard-00000.h5", "sha256": sha, "n": n}]}
    write_json(processed / "manifest.json", manifest)
    k = int(0.7 * n)
    write_json(split / "split.json", {"train": ids[:k], "val": ids[k : (k + n) // 2 + k // 2], "test": ids[k:]})
    Normalizer.fit(load_processed(processed), ids[:k]).to_json(split / "normalization.json")
    return processed, split


def throughput(args) -> None:
    from dosforge.model import DOSForge, collate
    from dosforge.model.config import ModelConfig
    from dosforge.model.losses import LossConfig, compute_losses
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed
    from dosforge.train.config import resolve_train_config
    from dosforge.train.loop import make_optimizer

    torch.set_num_threads(args.threads or 1)
    params = load_params(args.params)
    if args.synthetic:
        tmp = tempfile.TemporaryDirectory()
        args.processed, args.split = synthetic_processed(args.synthetic, Path(tmp.name))
    processed = load_processed(args.processed)
    split = read_json(Path(args.split) / "split.json")
    normalizer = Normalizer.from_json(Path(args.split) / "normalization.json")
    model_section = dict(params.get("model") or {}, size=args.size, tasks=["dos", "epdos", "fermi", "gap"])
    config = ModelConfig.from_params(dict(params, model=model_section))
    loss_config = LossConfig.from_params(params.get("loss") or {})
    torch.manual_seed(0)
    model = DOSForge(config)
    opt = make_optimizer(model, resolve_train_config(params.get("train")))  # the trainer's own optimiser
    rows = processed.indices(split["train"])
    batches = [
        collate([processed.sample(int(i)) for i in rows[k * args.batch : (k + 1) * args.batch]], normalizer)
        for k in range(args.steps + 1)
    ]
    rss0 = peak_rss_mib()
    n_params = sum(p.numel() for p in model.parameters())
    times = []
    for k, batch in enumerate(batches):
        t0 = time.perf_counter()
        losses = compute_losses(model(batch), batch, loss_config, normalizer)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if k:  # the first step warms up allocators and is not timed
            times.append(time.perf_counter() - t0)
    n = sum(int(b.num_graphs) for b in batches[1:])
    atoms = sum(int(b.z.numel()) for b in batches[1:]) / n
    print(f"data: {args.processed} ({atoms:.1f} sites per structure on average)")
    print(f"model size={args.size}  parameters={n_params:,}  batch={args.batch}  threads={torch.get_num_threads()}")
    print(f"step time {sum(times) / len(times):.3f} s  throughput {n / sum(times):.1f} structures/s (train step)")
    print(f"peak RSS {peak_rss_mib():.0f} MiB (before training steps {rss0:.0f} MiB)")


def wall(args) -> None:
    from dosforge.train.run import run_training

    params = load_params(args.params)
    if args.epochs:
        params["train"] = dict(params.get("train") or {}, epochs=args.epochs)
    if args.threads:
        params["train"] = dict(params.get("train") or {}, num_threads=args.threads)
    if args.synthetic:
        data_dir = tempfile.TemporaryDirectory()  # kept alive until the function returns
        args.processed, args.split = synthetic_processed(args.synthetic, Path(data_dir.name))
    names = list(params.get("ablations") or {}) if args.models == "all" else args.models.split(",")
    if args.models == "all":
        names = ["primary"] + names
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t0 = time.perf_counter()
            summary = run_training(
                params,
                processed_dir=args.processed,
                split_dir=args.split,
                out_dir=Path(tmp) / name,
                variant=None if name == "primary" else name,
                progress=False,
            )
            dt = time.perf_counter() - t0
            total += dt
            print(
                f"{name:16s} {dt:7.1f} s  epochs {summary['epochs']} "
                f"({summary['train_seconds_this_process'] / summary['epochs']:.1f} s/epoch)  "
                f"best epoch {summary['best_epoch']}  "
                f"{summary['selection_rule']} {summary['best_score']:.4f}  params {summary['n_parameters']:,}",
                flush=True,
            )
    print(f"total {total:.1f} s for {len(names)} models (preset {params.get('train', {}).get('preset')})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["throughput", "wall"])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--processed", default="data/processed")
    ap.add_argument("--split", default="data/split")
    ap.add_argument("--size", default="paper", choices=["paper", "small"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: train.num_threads; throughput: 1)")
    ap.add_argument("--epochs", type=int, default=0, help="wall: override train.epochs (0: the preset's)")
    ap.add_argument("--models", default="primary")
    ap.add_argument("--synthetic", type=int, default=0, help="throughput: time on N made-up materials instead")
    args = ap.parse_args()
    throughput(args) if args.what == "throughput" else wall(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
