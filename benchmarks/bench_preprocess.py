"""Preprocess throughput on MP-like records: materials (spectra sets) per second, with and without graphs.

    python benchmarks/bench_preprocess.py                 # 2,000 records, 2,000 raw points, 3 elements, 2 workers
    python benchmarks/bench_preprocess.py --n 5000 --workers 2

Goal (issue 2): the paper's 62,964 materials in under two minutes on 2 cores, i.e. >= ~525 materials/s.
The records are synthetic *inputs* for timing only (random perovskite-like ABX3 cells, spin-polarised
Gaussian-mixture DOS on a 2,000-point grid spanning [-60, 40] eV around E_F, as MP grids do). Reading
the gzipped JSON records is part of what is timed; writing them is not. Graphs: dosforge.graph.build_graph
with the params.yaml defaults (cutoff 4 A, 25 neighbours).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from pymatgen.core import Lattice, Structure  # noqa: E402

from dosforge.preprocess import preprocess  # noqa: E402
from dosforge.records import RawRecord, record_filename  # noqa: E402

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


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool workers), user + system."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        t0 = time.perf_counter()
        (raw / "records").mkdir(parents=True)
        for i in range(args.n):  # the record format of dosforge.records, gzip level 1 to set up faster
            rec = synthetic_record(i, args.points, rng)
            data = orjson.dumps(rec.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)
            (raw / "records" / record_filename(rec.id)).write_bytes(gzip.compress(data, compresslevel=1))
        print(f"wrote {args.n} records ({args.points} points, 3 elements, 2 spins) in {time.perf_counter() - t0:.1f} s")
        params = {
            "grid": {"emin": -10.0, "emax": 10.0, "bins": 256},
            "graph": {"cutoff": 4.0, "max_neighbors": 25},
            "preprocess": {"workers": args.workers, "shard_size": 4096, "chunksize": 16},
        }
        for graphs in (False, True):
            params["preprocess"]["graphs"] = graphs
            cpu0 = _cpu_seconds()
            t0 = time.perf_counter()
            manifest = preprocess(raw, Path(tmp) / f"out-{graphs}", params, progress=False)
            dt = time.perf_counter() - t0
            n = manifest["n_materials"]
            cpu_ms = (_cpu_seconds() - cpu0) / n * 1000
            ideal = args.workers * 1000 / cpu_ms  # what the CPU work allows on idle cores
            print(
                f"graphs={'on ' if graphs else 'off'} workers={args.workers}: {n} materials in {dt:.2f} s wall "
                f"= {n / dt:.0f} materials/s (62,964 in {62964 * dt / n:.0f} s); CPU {cpu_ms:.2f} ms/material "
                f"-> {ideal:.0f} materials/s on {args.workers} idle cores (62,964 in {62964 / ideal:.0f} s); "
                f"goal >= 525/s; rejected={manifest['n_rejected']}"
            )
    print(f"load average now: {os.getloadavg()[0]:.1f} (other processes on the same cores lower the wall-clock rate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
