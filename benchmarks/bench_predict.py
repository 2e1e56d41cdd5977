"""Prediction throughput (structures/s) of `dosforge predict`, batched vs one at a time, on this machine's CPUs.

    python benchmarks/bench_predict.py                      # default checkpoint, structures from data/raw
    python benchmarks/bench_predict.py --structures /path/to/matbench_dielectric.json.gz --n 128
    python benchmarks/bench_predict.py --fresh --size paper # a freshly initialised model (no trained checkpoint)
    python benchmarks/bench_predict.py --cell-limits 3 4 5 --size paper  # time/memory of one large cell

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


def one_large_cell(n: int, size: str | None) -> None:
    """Graph and forward time and peak memory for one NaCl n x n x n conventional supercell (8 n^3 sites)."""
    import resource

    from pymatgen.core import Lattice

    conv = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cell = conv * (n, n, n)
    predictor = fresh_predictor(size, load_params("params.yaml") if Path("params.yaml").exists() else {}, [11, 17])
    inp = StructureInput("large", "bench", structure=cell)
    t0 = time.perf_counter()
    model_cell, sample = predictor.prepare(inp, primitive=False, max_atoms=len(cell))  # the cell as given
    t1 = time.perf_counter()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    predictor.infer([inp], [(0, model_cell, sample)])
    t2 = time.perf_counter()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(cell):5d} sites {len(sample['graph']['edge_index']):6d} edges  graph {t1 - t0:5.1f} s  "
        f"forward ({predictor.model.config.size}) {t2 - t1:5.1f} s  peak memory {rss1:6.0f} MB "
        f"(+{rss1 - rss0:.0f} MB in forward)"
    )


def cell_limits(sizes: list[int], size: str | None) -> None:
    """`one_large_cell` for each n, each in a fresh process so that peak memory is its own."""
    import subprocess

    for n in sizes:
        cmd = [sys.executable, __file__, "--one-cell", str(n)] + (["--size", size] if size else [])
        subprocess.run(cmd, check=True)


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
        "--cell-limits",
        type=int,
        nargs="*",
        default=None,
        metavar="N",
        help="instead: time and peak memory for one NaCl N x N x N supercell (8 N^3 sites), e.g. 4 5",
    )
    ap.add_argument("--one-cell", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.one_cell is not None:
        one_large_cell(args.one_cell, args.size)
        return
    if args.cell_limits is not None:
        cell_limits(args.cell_limits or [4, 5], args.size)
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
