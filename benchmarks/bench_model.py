"""Model size and speed: parameter count, forward and forward+backward time per batch, peak memory.

Batch: 64 seeded random crystals with 1-20 sites (as benchmarks/bench_graph.py) and synthetic spectra (shape only;
the numbers measure compute, not accuracy). Full 4-task cross-conditioned DOSForge with `gap_head: extract`.
Run: `python benchmarks/bench_model.py --size paper --threads 2 [--batch 64 --steps 5]`.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from bench_graph import random_structure

from dosforge.graph import build_graph
from dosforge.model import DOSForge, LossConfig, ModelConfig, collate, compute_losses


def synthetic_sample(structure, i: int, rng: np.random.Generator) -> dict:
    uz = np.unique(structure.atomic_numbers)
    epdos = rng.random((len(uz), 256)).astype(np.float32)
    return {
        "id": f"bench-{i}",
        "z": np.asarray(structure.atomic_numbers),
        "graph": build_graph(structure),
        "dos": epdos.sum(0),
        "epdos": epdos,
        "epdos_z": uz,
        "efermi": float(rng.normal()),
        "gap": float(rng.uniform(0, 2)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=["small", "paper"], default="paper")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    samples = [synthetic_sample(random_structure(rng, int(rng.integers(1, 21))), i, rng) for i in range(args.batch)]
    batch = collate(samples)
    model = DOSForge(ModelConfig(size=args.size, coupling="cross", gap_head="extract"))
    n_params = sum(p.numel() for p in model.parameters())
    enc_params = sum(p.numel() for p in model.encoder.parameters())
    cfg = LossConfig()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    print(
        f"DOSForge size={args.size}: {n_params:,} parameters (encoder {enc_params:,}); batch {args.batch} materials, "
        f"{batch.z.numel()} atoms, {batch.edge_index.shape[1]} edges, {batch.group_z.numel()} element groups; "
        f"{args.threads} threads"
    )
    model.train()
    fwd, step, step_cpu = [], [], []
    for i in range(args.steps + 1):  # the first iteration warms up allocators and is not counted
        t0 = time.perf_counter()
        with torch.no_grad():
            model(batch)
        t1, c1 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        loss = compute_losses(model(batch), batch, cfg)["total"]
        loss.backward()
        opt.step()
        t2, c2 = time.perf_counter(), time.process_time()
        if i:
            fwd.append(t1 - t0)
            step.append(t2 - t1)
            step_cpu.append(c2 - c1)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  forward (no grad): {np.median(fwd):.3f} s/batch (median of {args.steps})")
    rate = args.batch / np.median(step)
    print(f"  forward+backward+AdamW step: {np.median(step):.3f} s/batch -> {rate:.1f} structures/s (wall)")
    print(f"  same, CPU time of this process: {np.median(step_cpu):.3f} s/batch (a shared machine inflates wall time)")
    print(f"  peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
