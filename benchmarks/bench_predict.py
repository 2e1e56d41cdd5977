"""Prediction throughput (structures/s) of `dosforge predict`, batched vs one at a time, on this machine's CPUs.

    python benchmarks/bench_predict.py                      # default checkpoint, structures from data/raw
    python benchmarks/bench_predict.py --structures /path/to/matbench_dielectric.json.gz --n 128
    python benchmarks/bench_predict.py --fresh --size paper # a freshly initialised model (no trained checkpoint)
    python benchmarks/bench_predict.py --graph-memory 2 3 4 # peak memory of one crystal graph vs cell size

Structures: `--structures` takes anything `dosforge predict` reads (files, folders, globs) or a JSON(.gz)
list / pandas-style column dict of pymatgen Structure dicts; by default the fetched records of the
pipeline (`data/raw/records`, real MP structures of the embedded default). Checkpoint: `--checkpoint`
(default models/primary/best.pt); when it does not exist, or with `--fresh`, a freshly initialised model
of params.yaml's `model` section (or `--size`) is used, and the output says so: throughput does not
depend on the weights. Three figures: end to end (primitive cell, graph, forward, outputs), graph
preparation alone, and the model's forward pass alone, each batched (`--batch-size`) and single.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pymatgen.core import Element, Structure  # noqa: E402

from dosforge.config import load_params  # noqa: E402
from dosforge.io import read_json  # noqa: E402
from dosforge.predict import CheckpointInfo, Predictor, StructureInput, load_model, resolve_inputs  # noqa: E402


def load_structures(spec: str | None, n: int) -> list[Structure]:
    if spec is None:
        from dosforge.records import iter_record_paths, read_record

        paths = iter_record_paths("data/raw")
        if not paths:
            sys.exit("no structures: run `dvc repro fetch` first or pass --structures")
        return [Structure.from_dict(read_record(p).structure) for p in paths[:n]]
    path = Path(spec)
    if path.is_file() and path.name.endswith((".json", ".json.gz")):
        data = read_json(path)
        if isinstance(data, dict) and "structure" in data:  # pandas-style {column: {row: value}}
            data = list(data["structure"].values())
        if isinstance(data, list):
            return [Structure.from_dict(d) for d in data[:n]]
    inputs, _ = resolve_inputs([spec])
    return [i.structure for i in inputs if i.ok][:n]


def fresh_predictor(size: str | None, params: dict, elements: list[int]) -> Predictor:
    from dosforge.model import DOSForge, ModelConfig
    from dosforge.normalize import Normalizer

    params = dict(params)
    params["model"] = dict(params.get("model") or {}, **({"size": size} if size else {}))
    config = ModelConfig.from_params(params)
    torch.manual_seed(0)
    model = DOSForge(config)
    stat = {"clip": 50.0, "mean": 1.0, "std": 1.0}
    normalizer = Normalizer(
        {"dos": stat, "epdos": {}, "epdos_default": stat, "fermi": {"mean": 0, "std": 1}, "gap": {"mean": 0, "std": 1}}
    )
    model.set_normalization(normalizer)
    meta = {
        "model_config": config.to_dict(),
        "grid": params.get("grid") or {"emin": -10.0, "emax": 10.0, "bins": 256},
        "elements": elements,
        "graph_params": params.get("graph") or {},
        "source": "none (freshly initialised)",
        "synthetic": True,
    }
    return Predictor(model, normalizer, CheckpointInfo.from_meta(meta, "<fresh>"), device="cpu")


GRAPH_MEMORY_CODE = """
import resource, sys, time
from pymatgen.core import Lattice, Structure
from dosforge.graph import build_graph
n = int(sys.argv[1])
s = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]) * (n, n, n)  # one element
t = time.perf_counter()
g = build_graph(s)
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{len(s):5d} sites  {len(g['edge_index']):7d} edges  graph {dt:6.1f} s  peak memory {rss:7.0f} MB")
"""


def graph_memory(sizes: list[int]) -> None:
    """Peak memory of building one crystal graph (each in a fresh process): what --max-atoms bounds."""
    import subprocess

    print("crystal graph of conventional Si supercells n x n x n (8 n^3 sites, one element), params.yaml graph:")
    for n in sizes:
        subprocess.run([sys.executable, "-c", GRAPH_MEMORY_CODE, str(n)], check=True)


def rate(fn, n_items: int, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_items / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="models/primary/best.pt")
    ap.add_argument("--fresh", action="store_true", help="ignore the checkpoint; use a freshly initialised model")
    ap.add_argument("--size", choices=["small", "paper"], default=None, help="model size of the fresh model")
    ap.add_argument("--structures", default=None)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--max-sites", type=int, default=20, help="use cells up to this size (data.max_sites default)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="best of this many timings")
    ap.add_argument(
        "--graph-memory",
        type=int,
        nargs="*",
        default=None,
        metavar="N",
        help="instead: peak memory of one graph for Si supercells N x N x N (e.g. 2 3 4)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.graph_memory is not None:
        graph_memory(args.graph_memory or [2, 3, 4])
        return

    structures = [s for s in load_structures(args.structures, 20 * args.n) if len(s) <= args.max_sites][: args.n]
    params = load_params("params.yaml") if Path("params.yaml").exists() else {}
    if not args.fresh and Path(args.checkpoint).exists():
        predictor = load_model(args.checkpoint, device="cpu")
        what = f"trained checkpoint {args.checkpoint}"
    else:
        elements = sorted({Element(str(el)).Z for s in structures for el in s.composition.elements})
        predictor = fresh_predictor(args.size, params, elements)
        what = f"FRESHLY INITIALISED model (size={predictor.model.config.size}; no trained checkpoint used)"
    structures = [s for s in structures if predictor.check(s) is None]
    inputs = [StructureInput(f"s{i}", "bench", structure=s) for i, s in enumerate(structures)]
    n = len(inputs)
    n_params = sum(p.numel() for p in predictor.model.parameters())
    sites = np.array([len(s) for s in structures])
    print(f"model: {what}, {n_params:,} parameters")
    print(f"structures: {n} (sites per cell: median {np.median(sites):.0f}, max {sites.max()}), threads={args.threads}")

    prepared = [(k, *predictor.prepare(inputs[k], True)) for k in range(n)]  # also warms up

    def forward(bs: int) -> None:
        for start in range(0, n, bs):
            predictor.infer(inputs, prepared[start : start + bs])

    graphs = rate(lambda: [predictor.prepare(i, True) for i in inputs], n, args.repeat)
    print(f"{'graphs only (primitive cell + graph)':38s} {graphs:8.1f} structures/s (no batching involved)")
    for label, fn in (
        ("end to end", lambda bs: predictor.run(inputs, batch_size=bs, progress=False)),
        ("model forward only", forward),
    ):
        batched = rate(lambda fn=fn: fn(args.batch_size), n, args.repeat)
        single = rate(lambda fn=fn: fn(1), n, args.repeat)
        print(
            f"{label:38s} {batched:8.1f} structures/s with batch {args.batch_size}, {single:8.1f} structures/s single"
        )


if __name__ == "__main__":
    main()
