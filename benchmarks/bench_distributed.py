"""Training on several processes / devices: step time, memory, bf16, scaling with W, models sharing a GPU.

Figures for docs/benchmarks.md and docs/training.md "Several devices" (printed, never asserted). Every mode
trains on made-up materials (`bench_train.synthetic_processed`) with the trainer's own pieces: DOSForge,
AdamW, `StepRunner` (micro-batches, DDP `no_sync`, W-invariant BatchNorm statistics).

python benchmarks/bench_distributed.py step [--size paper] [--batch 64] [--bf16] [--device cuda]
    one process: seconds per optimiser step, structures/s, peak memory (CUDA: max allocated).
python benchmarks/bench_distributed.py scaling [--nproc 1 2 4 8] [--micro 16] [--size paper] [--bf16]
    torchrun --standalone with W processes, each one device (NCCL on CUDA, gloo on CPU), micro-batch b per
    rank, global batch W*b: per-step time and structures/s for each W (weak scaling at fixed b).
python benchmarks/bench_distributed.py share [--models 1 2 3] [--size small]
    k independent trainings at once on the same device (the fan-out of small ablation models): summed
    structures/s for each k, to decide whether several models per GPU pay.

On a GPU machine, run e.g.:
    python benchmarks/bench_distributed.py step --size paper --batch 64 --bf16 --device cuda
    python benchmarks/bench_distributed.py step --size paper --batch 64 --device cuda        # float32
    python benchmarks/bench_distributed.py scaling --nproc 1 2 4 8 --size paper --micro 16 --bf16
    python benchmarks/bench_distributed.py share --models 1 2 3 4 --size small --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402


def _data(n: int, root: Path):
    from bench_train import synthetic_processed

    return synthetic_processed(n, root)


def worker(args) -> dict:
    """One training process (or one torchrun rank): `--steps` timed optimiser steps after one warm-up step."""
    import contextlib

    from dosforge.io import read_json
    from dosforge.model import DOSForge
    from dosforge.model.config import ModelConfig
    from dosforge.model.losses import LossConfig
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed
    from dosforge.train import distributed
    from dosforge.train.batchnorm import RunningStatsReplay
    from dosforge.train.config import resolve_train_config
    from dosforge.train.data import SplitDataset
    from dosforge.train.loop import make_optimizer
    from dosforge.train.plan import step_plan
    from dosforge.train.step import StepRunner

    torch.set_num_threads(args.threads)
    distributed.setup(args.device)
    rank, world = distributed.rank(), distributed.world_size()
    if args.device == "cuda":
        device = torch.device("cuda", distributed.local_rank() if world > 1 else 0)
    else:
        device = torch.device("cpu")
    processed = load_processed(args.processed)
    split = read_json(Path(args.split) / "split.json")
    normalizer = Normalizer.from_json(Path(args.split) / "normalization.json")
    params = {"model": {"size": args.size, "tasks": ["dos", "epdos", "fermi", "gap"]}}
    torch.manual_seed(0)
    model = DOSForge(ModelConfig.from_params(params))
    model.set_normalization(normalizer)
    model.to(device)
    optimizer = make_optimizer(model, resolve_train_config({"preset": "paper"}))
    net = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=ids, broadcast_buffers=False, find_unused_parameters=True
        )
    use_bf16 = args.bf16 and device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
    dataset = SplitDataset(processed, split["train"])
    micro = args.micro or args.batch
    batch = micro * world if args.micro else args.batch
    runner = StepRunner(net, model, optimizer, dataset, normalizer, device, autocast, LossConfig.from_params({}),
                        RunningStatsReplay(model) if args.micro else None, 1.0, rank=rank, world=world)  # fmt: skip
    plan = [s for epoch in range(100) for s in step_plan(len(dataset), batch, micro, 0, epoch) if
            sum(map(len, s)) == batch][: args.steps + 1]  # fmt: skip
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, seen = [], []
    for k, step in enumerate(plan):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        runner.run(step, k, seen)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if k:
            times.append(time.perf_counter() - t0)
    distributed.shutdown()
    step_s = sum(times) / len(times)
    out = {
        "size": args.size, "world": world, "batch": batch, "micro": micro, "device": str(device),
        "bf16": use_bf16, "step_s": step_s, "structures_per_s": batch / step_s,
        "parameters": sum(p.numel() for p in model.parameters()),
        "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }  # fmt: skip
    if rank == 0:
        print("RESULT " + json.dumps(out), flush=True)
    return out


def _worker_cmd(args, nproc: int | None = None) -> list[str]:
    flags = ["worker", "--processed", str(args.processed), "--split", str(args.split), "--size", args.size,
             "--batch", str(args.batch), "--micro", str(args.micro), "--steps", str(args.steps),
             "--threads", str(args.threads), "--device", args.device] + (["--bf16"] if args.bf16 else [])  # fmt: skip
    script = str(Path(__file__).resolve())
    if nproc is None:
        return [sys.executable, script, *flags]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", script, *flags]


def _results(procs) -> list[dict]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"worker failed ({p.returncode}):\n{stderr[-3000:]}")
        out += [json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("RESULT ")]
    return out


def scaling(args) -> None:
    for w in args.nproc:
        t0 = time.perf_counter()
        proc = subprocess.Popen(_worker_cmd(args, w), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        (r,) = _results([proc])
        print(f"W={w}  global batch {r['batch']} (micro {r['micro']})  {r['step_s']:.3f} s/step  "
              f"{r['structures_per_s']:.1f} structures/s  peak {r['peak_gib'] or 0:.2f} GiB/rank  "
              f"launch+run {time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip


def share(args) -> None:
    for k in args.models:
        procs = [subprocess.Popen(_worker_cmd(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(k)]  # fmt: skip
        rs = _results(procs)
        total = sum(r["structures_per_s"] for r in rs)
        print(f"{k} model(s) at once on {rs[0]['device']}: {total:.1f} structures/s in total "
              f"({total / k:.1f} each, {rs[0]['step_s']:.3f} s/step)", flush=True)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["step", "scaling", "share", "worker"])
    ap.add_argument("--size", default="paper", choices=["paper", "small"])
    ap.add_argument("--batch", type=int, default=64, help="global batch (step, share)")
    ap.add_argument("--micro", type=int, default=0, help="micro-batch per forward pass (scaling: per rank)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (after one warm-up step)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only, as in training)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nproc", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--models", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--synthetic", type=int, default=600, help="made-up materials to train on")
    ap.add_argument("--processed", default=None, help="(worker) processed data; default: made-up materials")
    ap.add_argument("--split", default=None)
    args = ap.parse_args()
    if args.what == "scaling" and not args.micro:
        args.micro = 16
    if args.processed is None:
        tmp = tempfile.TemporaryDirectory()  # kept alive until main returns
        args.processed, args.split = _data(args.synthetic, Path(tmp.name))
    if args.what in ("step", "worker"):
        r = worker(args)
        if args.what == "step":
            print(f"{r['size']} model ({r['parameters']:,} parameters), batch {r['batch']}, {r['device']}, "
                  f"bf16 {r['bf16']}: {r['step_s']:.3f} s/step, {r['structures_per_s']:.1f} structures/s, "
                  f"peak {r['peak_gib'] or 0:.2f} GiB")  # fmt: skip
    elif args.what == "scaling":
        scaling(args)
    else:
        share(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
