"""Preprocess throughput on MP-like records, before and after issue 14, in one run: materials per second.

    python benchmarks/bench_preprocess.py                 # 2,000 records, 2,000 raw points, 3 elements, 2 workers
    python benchmarks/bench_preprocess.py --n 5000 --workers 2 --before-rev a4cec37

Goal (issues 2 and 14): the paper's 62,964 materials in under two minutes on 2 cores, i.e. >= 525 materials/s.
The records are synthetic *inputs* for timing only (random perovskite-like ABX3 cells, spin-polarised
Gaussian-mixture DOS on a 2,000-point grid spanning [-60, 40] eV around E_F, as MP grids do). The same
records are written in both raw formats: gzipped JSON (`<id>.json.gz`, what fetch wrote before issue 14)
for "before", `.dosrec` for "after". "before" is the code of `--before-rev` (default a4cec37, main before
issue 14: one parent writing every shard, gzipped JSON records, pymatgen's SpacegroupAnalyzer), extracted
with `git archive` and run in a subprocess; "after" is this checkout, also in a subprocess, so both pay the
same start-up and neither sees the other's caches. A `--before-rev` from issue 14 on (it has
`preprocess/chunks.py`, e.g. 84f8a97) reads the same `.dosrec` records with the same params as "after", so only
the code differs. Reading the records is part of what is timed; writing them is not. Graphs:
dosforge.graph.build_graph, cutoff 4 A, 25 neighbours (as when 272/s was measured; params.yaml now uses 12,
which is cheaper).
Each run prints wall-clock materials/s and CPU ms per material (user + system of the process and its
workers), whose inverse times the worker count is the rate idle cores would reach.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from pymatgen.core import Lattice, Structure  # noqa: E402

from dosforge.records import LEGACY_SUFFIX, RawRecord, safe_name, write_record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BEFORE_REV = "a4cec37"  # main before issue 14
GRAPH = {"cutoff": 4.0, "max_neighbors": 25}
# run in a subprocess with PYTHONPATH set to one version's src/: times preprocess() alone (not the imports)
RUNNER = """
import json, resource, sys, time
cfg = json.loads(sys.argv[1])
from dosforge.preprocess import preprocess
def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
c0, t0 = cpu(), time.perf_counter()
m = preprocess(cfg["raw"], cfg["out"], cfg["params"], progress=False)
wall, used = time.perf_counter() - t0, cpu() - c0
print(json.dumps({"wall": wall, "cpu": used, "n": m["n_materials"], "rejected": m["n_rejected"]}))
"""

A_SITES, B_SITES, X_SITES = ["Sr", "Ba", "Ca", "La", "K"], ["Ti", "Zr", "Fe", "Mn", "Nb"], ["O", "F", "S"]


def synthetic_record(i: int, points: int, rng: np.random.Generator) -> RawRecord:
    elements = [A_SITES[i % 5], B_SITES[(i // 5) % 5], X_SITES[(i // 25) % 3]]
    a = 3.8 + 0.3 * rng.random()
    structure = Structure(
        Lattice.tetragonal(a, a * (1 + 0.1 * rng.random())),  # P4/mmm: a relaxed, symmetric cell like MP's
        [elements[0], elements[1], elements[2], elements[2], elements[2]],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    efermi = float(rng.uniform(-2, 8))
    energies = efermi + np.linspace(-60, 40, points)

    def spectrum(scale):
        centres = rng.uniform(-12, 12, 6)
        widths = rng.uniform(0.3, 2.0, 6)
        e = energies[:, None] - efermi
        return scale * np.exp(-0.5 * ((e - centres) / widths) ** 2).sum(1)

    elements_dos = {el: {"up": spectrum(1.0), "down": spectrum(1.0)} for el in elements}
    total = {s: sum(d[s] for d in elements_dos.values()) * 1.1 for s in ("up", "down")}
    return RawRecord(
        id=f"bench-{i:06d}",
        source="files",
        synthetic=False,
        structure=structure.as_dict(),
        efermi=efermi,
        energies=energies,
        total=total,
        elements=elements_dos,
        band_gap=0.0,
        gap_origin="dos",
        is_metal=True,
    )


def write_both_formats(n: int, points: int, legacy: Path, binary: Path) -> None:
    rng = np.random.default_rng(0)
    (legacy / "records").mkdir(parents=True)
    for i in range(n):
        rec = synthetic_record(i, points, rng)
        write_record(binary, rec)
        data = orjson.dumps(rec.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)  # as fetch wrote it: gzip level 1
        (legacy / "records" / (safe_name(rec.id) + LEGACY_SUFFIX)).write_bytes(gzip.compress(data, compresslevel=1))


def extract_src(rev: str, dest: Path) -> Path | None:
    """`src/` of git revision `rev` under `dest` (None, with a message, if git or the revision is missing)."""
    try:
        tar = subprocess.run(["git", "archive", rev, "src"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"before: cannot extract {rev} ({exc}); only 'after' is measured", file=sys.stderr)
        return None
    with tarfile.open(fileobj=BytesIO(tar)) as tf:
        tf.extractall(dest, filter="data")
    return dest / "src"


def run_preprocess(src: Path, raw: Path, out: Path, params: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    cfg = json.dumps({"raw": str(raw), "out": str(out), "params": params})
    done = subprocess.run([sys.executable, "-c", RUNNER, cfg], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"preprocess with {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:12]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--before-rev", default=BEFORE_REV, help="git revision measured as 'before' ('' to skip)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        write_both_formats(args.n, args.points, tmp / "raw-json", tmp / "raw-dosrec")
        print(
            f"wrote {args.n} records ({args.points} points, 3 elements, 2 spins) in both formats "
            f"in {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.1f}"
        )
        versions = [("after", REPO / "src", tmp / "raw-dosrec", {"chunk_records": 256})]
        before = extract_src(args.before_rev, tmp / "before") if args.before_rev else None
        if before is not None and (before / "dosforge/preprocess/chunks.py").exists():
            # a revision from issue 14 on: the same .dosrec inputs and params, so only the code differs
            versions.insert(0, (f"before ({args.before_rev})", before, tmp / "raw-dosrec", {"chunk_records": 256}))
        elif before is not None:
            versions.insert(0, (f"before ({args.before_rev})", before, tmp / "raw-json", {"chunksize": 16}))
        for graphs in (False, True):
            digests = set()
            for label, src, raw, extra in versions:
                params = {
                    "grid": {"emin": -10.0, "emax": 10.0, "bins": 256},
                    "graph": GRAPH,
                    "preprocess": {"workers": args.workers, "shard_size": 4096, "graphs": graphs, **extra},
                }
                out = tmp / f"out-{label.split()[0]}-{graphs}"
                r = run_preprocess(src, raw, out, params)
                digests.add(digest(out))
                cpu_ms = r["cpu"] / r["n"] * 1000
                ideal = args.workers * 1000 / cpu_ms  # what the CPU work allows on idle cores
                print(
                    f"{label:18s} graphs={'on ' if graphs else 'off'} workers={args.workers}: {r['n']} materials in "
                    f"{r['wall']:.2f} s wall = {r['n'] / r['wall']:.0f} materials/s (62,964 in "
                    f"{62964 * r['wall'] / r['n']:.0f} s); CPU {cpu_ms:.2f} ms/material -> {ideal:.0f} materials/s "
                    f"on {args.workers} idle cores; goal >= 525/s; rejected={r['rejected']}; "
                    f"load average {os.getloadavg()[0]:.1f}"
                )
            if len(versions) == 2:
                print(f"  processed outputs byte-identical before/after: {'yes' if len(digests) == 1 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
