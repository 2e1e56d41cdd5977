"""Batch prediction (`dosforge predict --format parquet`) at scale: structures/s against graph workers, peak
memory, and a run killed half-way then resumed, compared with an uninterrupted one.

    python benchmarks/bench_predict_batch.py --n 10000 --workers 0 1 2 --sweep-n 2000
    python benchmarks/bench_predict_batch.py --n 10000 --skip-sweep          # only the kill-and-resume check

Inputs: the bundled structures (`src/dosforge/data/embedded/structures.json.gz`, real MP crystals) repeated
and perturbed (seeded, 0.01 A per site) to `--n` pymatgen JSON files under `--work`. Checkpoint:
`--checkpoint` (default models/primary/best.pt), copied into `--work` so the run never reads it in place.
Every run is `python -m dosforge.cli predict ... --format parquet` in a subprocess; peak memory is the largest
sum of PSS (proportional set size: shared pages split between the processes, so forked DataLoader workers
are not counted twice) over the process and its workers (psutil, sampled every 2 s). The steady rate
counts from the moment `batch.json` appears (inputs listed, model loaded) to the end, which leaves out the
interpreter and import start-up (tens of seconds on a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "src" / "dosforge" / "data" / "embedded" / "structures.json.gz"


def make_inputs(folder: Path, n: int, seed: int = 0) -> Path:
    """`n` structure files from the bundled entries, each a perturbed copy (reused when already there)."""
    from pymatgen.core import Lattice, Structure

    from dosforge.io import read_json

    if folder.is_dir() and len(list(folder.glob("*.json"))) == n:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    entries = read_json(EMBEDDED)["entries"]
    rng = np.random.default_rng(seed)
    for i in range(n):
        e = entries[i % len(entries)]
        lattice = Lattice(e["lattice"])
        cart = lattice.get_cartesian_coords(e["frac_coords"]) + rng.normal(0, 0.01, (len(e["species"]), 3))
        s = Structure(lattice, e["species"], cart, coords_are_cartesian=True)
        s.to(filename=str(folder / f"{i:06d}_{e['id']}.json"))
    return folder


def run_batch(cmd: list[str], out: Path, kill_at_parts: int | None = None) -> dict:
    """Run one batch prediction; with `kill_at_parts`, SIGKILL it once that many parts are finished."""
    import psutil

    t0 = time.perf_counter()
    log = out.parent / f"{out.name}.log"  # a file, not a pipe: a full pipe would stall the run
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_env())
    peak, parent, started = 0, psutil.Process(proc.pid), None
    samples = 0
    while proc.poll() is None:
        samples += 1
        if samples % 4 == 1:  # reading smaps costs CPU: PSS every 2 s
            peak = max(peak, _tree_pss(parent))
        if kill_at_parts is not None and len(list(out.glob("part-*.json"))) >= kill_at_parts:
            for p in parent.children(recursive=True):
                p.send_signal(signal.SIGKILL)
            proc.send_signal(signal.SIGKILL)
        if started is None and (out / "batch.json").exists():
            started = time.perf_counter()
        time.sleep(0.5)
    end = time.perf_counter()
    wall = end - t0
    proc.wait()
    if kill_at_parts is None and proc.returncode not in (0, 1):
        sys.exit(f"batch run failed ({proc.returncode}): see {log}")
    steady = end - (started or t0)
    return {"wall_s": wall, "steady_s": steady, "peak_gb": peak / 2**30, "returncode": proc.returncode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="structures for the kill-and-resume check")
    ap.add_argument("--sweep-n", type=int, default=2000, help="structures per run of the graph-worker sweep")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="graph workers to time")
    ap.add_argument("--resume-workers", type=int, default=2, help="graph workers of the kill-and-resume runs")
    ap.add_argument("--shard-size", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--checkpoint", default=str(REPO / "models" / "primary" / "best.pt"))
    ap.add_argument("--work", default="/tmp/bench_predict_batch")
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--reference", help="a finished uninterrupted run to compare with (skips that run)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = work / "best.pt"
    shutil.copyfile(args.checkpoint, checkpoint)  # read-only use of the committed model
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")

    def cmd(inputs: Path, out: Path, workers: int) -> list[str]:
        return [sys.executable, "-m", "dosforge.cli", "predict", str(inputs), "-c", str(checkpoint), "-o", str(out),
                "--format", "parquet", "-q", "--shard-size", str(args.shard_size), "--batch-size",
                str(args.batch_size), "--graph-workers", str(workers)]  # fmt: skip

    if not args.skip_sweep:
        inputs = make_inputs(work / f"inputs_{args.sweep_n}", args.sweep_n)
        first = None
        for w in args.workers:
            out = work / f"sweep_w{w}"
            shutil.rmtree(out, ignore_errors=True)
            r = run_batch(cmd(inputs, out, w), out)
            same = "" if first is None else f", output identical to {args.workers[0]} workers: {_same(first, out)}"
            first = first or out
            print(
                f"graph workers {w}: {args.sweep_n / r['steady_s']:6.1f} structures/s steady, "
                f"{args.sweep_n / r['wall_s']:6.1f} with start-up ({r['wall_s']:.0f} s); "
                f"peak PSS {r['peak_gb']:.2f} GB, load {os.getloadavg()[0]:.1f}{same}"
            )
    inputs = make_inputs(work / f"inputs_{args.n}", args.n)
    ref, resumed = Path(args.reference or work / "uninterrupted"), work / "resumed"
    shutil.rmtree(resumed, ignore_errors=True)
    if not args.reference:
        shutil.rmtree(ref, ignore_errors=True)
        r = run_batch(cmd(inputs, ref, args.resume_workers), ref)
        rate, wall = args.n / r["steady_s"], r["wall_s"]
        print(f"{args.n} structures, uninterrupted: {rate:.1f} structures/s steady ({wall:.0f} s in all), "
              f"peak PSS {r['peak_gb']:.2f} GB, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    n_parts = -(-args.n // args.shard_size)
    k = run_batch(cmd(inputs, resumed, args.resume_workers), resumed, kill_at_parts=n_parts // 2)
    done = len(list(resumed.glob("part-*.json")))
    print(f"killed (SIGKILL, rc {k['returncode']}) after {k['wall_s']:.0f} s with {done}/{n_parts} parts finished")
    r2 = run_batch(cmd(inputs, resumed, args.resume_workers), resumed)
    print(f"resumed: {r2['wall_s']:.0f} s, peak PSS {r2['peak_gb']:.2f} GB; output identical to the "
          f"uninterrupted run: {_same(ref, resumed)}")  # fmt: skip


def _tree_pss(parent) -> int:
    """Sum of PSS over a process and its descendants (0 for any that exited meanwhile)."""
    import psutil

    total = 0
    for p in [parent, *parent.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:
            pass
    return total


def _same(a: Path, b: Path) -> bool:
    from dosforge.io import read_json
    from dosforge.predict.parquet_parts import read_parts

    return read_parts(a).equals(read_parts(b)) and read_json(a / "metadata.json") == read_json(b / "metadata.json")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")


if __name__ == "__main__":
    main()
