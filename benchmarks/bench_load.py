"""Peak memory of `load_processed` eager against lazy (issue 14) on processed data N x the embedded default.

    python benchmarks/bench_load.py                    # 10 x data/processed (24,000 materials), 4 shards
    python benchmarks/bench_load.py --copies 10 --shards 4 --samples 2000

Builds the bigger folder once under --work by repeating the default's materials (ids suffixed "#k") with the real
`write_shard`, then, in a fresh process per mode, loads it and reads --samples random training samples the way the
train loop does (`ProcessedData.sample`). Reported: peak RSS of that process (ru_maxrss), load time, sample time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def build(src: Path, dst: Path, copies: int, n_shards: int) -> int:
    from dosforge.io import write_json
    from dosforge.shards import load_processed, write_shard

    if (dst / "manifest.json").exists():
        return len(json.loads((dst / "manifest.json").read_text())["ids"])
    data = load_processed(src)
    dst.mkdir(parents=True, exist_ok=True)
    ids, shards = [], []
    rows = [(k, i) for k in range(copies) for i in range(len(data))]
    for s, block in enumerate(np.array_split(np.arange(len(rows)), n_shards)):
        materials = []
        for r in block:
            k, i = rows[r]
            smp = data.sample(i)
            materials.append({
                "id": f"{smp['id']}#{k}", "formula": smp["formula"], "point_group": smp["point_group"],
                "source": data.source[i], "gap_origin": data.gap_origin[i], "synthetic": bool(data.synthetic[i]),
                "dos": smp["dos"], "epdos": smp["epdos"], "epdos_z": smp["epdos_z"],
                "epdos_residual": float(data.epdos_residual[i]), "efermi": smp["efermi"], "gap": smp["gap"],
                "is_metal": smp["is_metal"], "atomic_numbers": smp["z"], "cart_coords": smp["cart_coords"],
                "lattice": smp["lattice"], "graph": smp["graph"],
            })  # fmt: skip
        name = f"shard-{s:05d}.h5"
        shards.append({"file": name, "n": len(materials), "sha256": write_shard(dst / name, materials)})
        ids += [m["id"] for m in materials]
    manifest = dict(data.manifest, ids=ids, shards=shards, n_materials=len(ids))
    write_json(dst / "manifest.json", manifest)
    return len(ids)


def measure(path: Path, lazy: bool, samples: int) -> dict:
    from dosforge.shards import load_processed

    t0 = time.perf_counter()
    data = load_processed(path, lazy=lazy)
    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    for i in rng.integers(0, len(data), samples):
        data.sample(int(i))
    t2 = time.perf_counter()
    return {
        "mode": "lazy" if lazy else "eager",
        "materials": len(data),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_s": t1 - t0,
        "sample_ms": 1000 * (t2 - t1) / samples,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processed", default="data/processed")
    ap.add_argument("--work", default="/tmp/dosforge-bench-load")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--mode", choices=["eager", "lazy"], help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    dst = Path(args.work) / f"x{args.copies}"
    if args.mode:
        print(json.dumps(measure(dst, args.mode == "lazy", args.samples)))
        return
    n = build(Path(args.processed), dst, args.copies, args.shards)
    size = sum(f.stat().st_size for f in dst.glob("*.h5")) / 2**20
    print(f"{n} materials ({args.copies} x {args.processed}), {size:.0f} MiB of shards in {dst}")
    for mode in ("eager", "lazy"):
        cmd = [sys.executable, __file__, "--work", args.work, "--copies", str(args.copies), "--mode", mode,
               "--samples", str(args.samples)]  # fmt: skip
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(f"{r['mode']:5s}  peak RSS {r['peak_rss_mb']:7.0f} MB  load {r['load_s']:6.2f} s  "
              f"sample {r['sample_ms']:.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
