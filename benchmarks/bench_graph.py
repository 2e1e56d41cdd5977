"""Graph construction throughput (`dosforge.graph.build_graph`) on <= 20-site cells, one core.

Structures: seeded random crystals with 1-20 sites, random (possibly triclinic) cells and ~18 A^3 per atom,
sites kept >= 1.6 A apart, mixed from 10 elements -- the size range of the embedded default (data.max_sites 20).
Prints structures/s overall and per site-count bucket, from process CPU time (what one core delivers; on a shared,
overloaded machine wall time is inflated by waiting for a core) and from wall time.
Run: `OMP_NUM_THREADS=1 python benchmarks/bench_graph.py [--n 400]` (build_graph is single-threaded numpy/cython).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pymatgen.core import Lattice, Structure

from dosforge.graph import build_graph

ELEMENTS = ["Li", "O", "Si", "Fe", "Ga", "N", "Na", "Cl", "Ti", "Cu"]


def random_structure(rng: np.random.Generator, n_sites: int) -> Structure:
    vol = 18.0 * n_sites
    while True:
        abc = rng.uniform(0.7, 1.3, 3)
        angles = rng.uniform(70, 110, 3)
        try:
            lat = Lattice.from_parameters(*abc, *angles)
        except ValueError:
            continue
        if lat.volume <= 0.05:
            continue
        lat = lat.scale(vol)
        frac, tries = [], 0
        while len(frac) < n_sites and tries < 5000:
            f = rng.random(3)
            tries += 1
            if frac:
                d = lat.get_all_distances(np.array(frac), f[None])[:, 0]
                if d.min() < 1.6:
                    continue
            frac.append(f)
        if len(frac) == n_sites:
            return Structure(lat, list(rng.choice(ELEMENTS, n_sites)), frac)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400, help="structures to build")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    structures = [random_structure(rng, int(rng.integers(1, 21))) for _ in range(args.n)]
    build_graph(structures[0])  # warm-up (imports, caches)
    times = np.empty(len(structures))
    edges = 0
    wall0 = time.perf_counter()
    for i, s in enumerate(structures):
        t0 = time.process_time()
        g = build_graph(s, cutoff=4.0, max_neighbors=25)
        times[i] = time.process_time() - t0
        edges += len(g["edge_index"])
    wall = time.perf_counter() - wall0
    sites = np.array([len(s) for s in structures])
    print(f"build_graph: {len(structures)} structures (1-20 sites, mean {sites.mean():.1f}), {edges} edges")
    print(f"  overall (CPU time): {len(structures) / times.sum():.0f} structures/s, {1e3 * times.mean():.2f} ms mean")
    print(f"  overall (wall time): {len(structures) / wall:.0f} structures/s")
    for lo, hi in ((1, 5), (6, 10), (11, 15), (16, 20)):
        sel = (sites >= lo) & (sites <= hi)
        if sel.any():
            rate = sel.sum() / times[sel].sum()
            print(f"  {lo:2d}-{hi:2d} sites: {rate:.0f} structures/s CPU ({sel.sum()} structures)")


if __name__ == "__main__":
    main()
