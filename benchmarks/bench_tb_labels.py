"""Benchmark: tight-binding labels for N bundled structures of at most 20 sites (goal: 3,000 in < 2 min on 2 cores).

Times the labelling alone (no record writing), over `--workers` processes, on a seeded sample of
the bundle (matbench structures and metal prototypes alike). Prints wall time, throughput, per-
structure cost (single core, on a small sub-sample) and the metal fraction of the labels.
Usage: python benchmarks/bench_tb_labels.py [--n 3000] [--workers 2] [--max-sites 20]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from dosforge.sources.embedded import entry_structure, label_entries, load_bundle
from dosforge.tb import TBParams, label_structure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--max-sites", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pool = [e for e in load_bundle() if e["n_sites"] <= args.max_sites]
    rng = np.random.default_rng(args.seed)
    entries = [pool[i] for i in sorted(rng.choice(len(pool), size=min(args.n, len(pool)), replace=False))]
    params = TBParams()

    t0 = time.perf_counter()
    results = list(label_entries(entries, params, args.workers, progress=False))
    wall = time.perf_counter() - t0
    ok = [r for _, r, _ in results if r is not None]
    failed = len(results) - len(ok)

    per = []
    for e in entries[:200]:  # single-core cost per structure
        s = entry_structure(e)
        t = time.perf_counter()
        label_structure(s, params)
        per.append(time.perf_counter() - t)
    per = np.array(per)
    print(
        f"structures: {len(entries)} (<= {args.max_sites} sites), workers: {args.workers}, cpu_count: {os.cpu_count()}"
    )
    print(f"wall: {wall:.1f} s  ({len(entries) / wall:.1f} structures/s); failed: {failed}")
    print(
        f"per structure, 1 core, first 200: median {np.median(per) * 1e3:.1f} ms, "
        f"p90 {np.quantile(per, 0.9) * 1e3:.1f} ms, max {per.max() * 1e3:.1f} ms"
    )
    print(f"metal fraction of the labels: {np.mean([r.is_metal for r in ok]):.3f}")
    print(f"goal (3,000 in < 120 s on 2 cores): {'met' if wall < 120 and len(entries) >= 3000 else 'see figures'}")


if __name__ == "__main__":
    main()
