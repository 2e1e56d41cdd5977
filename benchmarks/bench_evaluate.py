"""Evaluation speed: compute_metrics at the paper's test-set size, and one appendix C panel figure.

python benchmarks/bench_evaluate.py [--n 9477] [--elements-per-material 2.5]
Prints seconds; no assertion (speed goals live here, never in timed tests).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dosforge.evaluate.plots import plot_percentile_panels
from dosforge.grid import EnergyGrid
from dosforge.metrics import compute_metrics
from dosforge.predictions import Predictions


def synthetic(n: int, per: float, grid: EnergyGrid, seed: int = 0) -> Predictions:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(per - 1, n) + 1
    m = int(counts.sum())
    dos_true = rng.gamma(2.0, 1.0, (n, grid.bins))
    epdos_true = rng.gamma(2.0, 0.5, (m, grid.bins))
    gap = np.where(rng.random(n) < 0.4, 0.0, rng.uniform(0, 4, n))
    return Predictions(
        ids=[f"mp-{i}" for i in range(n)],
        formula=["SiO2"] * n,
        dos_pred=dos_true + rng.normal(0, 0.3, dos_true.shape),
        dos_true=dos_true,
        epdos_pred=epdos_true + rng.normal(0, 0.2, epdos_true.shape),
        epdos_true=epdos_true,
        epdos_ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        epdos_z=rng.integers(1, 84, m).astype(np.int64),
        fermi_pred=rng.normal(0, 1, n),
        fermi_true=rng.normal(0, 1, n),
        gap_pred=gap + rng.normal(0, 0.1, n),
        gap_true=gap,
        is_metal=gap == 0,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=9477, help="test materials (the paper's test split: 9,477)")
    ap.add_argument("--elements-per-material", type=float, default=2.5)
    args = ap.parse_args()
    grid = EnergyGrid()
    pred = synthetic(args.n, args.elements_per_material, grid)
    t0 = time.perf_counter()
    compute_metrics(pred, grid)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        plot_percentile_panels(pred, grid, Path(tmp) / "panels.png", model_name="bench")
    t2 = time.perf_counter()
    print(f"compute_metrics: {args.n} materials, {len(pred.epdos_z)} EPDOS rows: {t1 - t0:.2f} s")
    print(f"appendix C panels (20 materials, DOS + EPDOS, dpi 100): {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
