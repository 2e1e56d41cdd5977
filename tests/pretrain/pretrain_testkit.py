"""Shared pieces of the pretraining tests: tiny params and the tiny labelled set of tests/train on disk."""

import importlib.util
from pathlib import Path

from pymatgen.core import Lattice, Structure

from dosforge.io import write_json

TINY_MODEL = {
    "size": "small",
    "encoder": {"d": 16, "layers": 1, "rbf_bins": 8, "angle_bins": 8},
    "decoder": {"heads": 2, "head_dim": 8, "l1": 1, "l2": 1},
}
PARAMS = {
    "seed": 3,
    "grid": {"emin": -10.0, "emax": 10.0, "bins": 256},
    "graph": {"cutoff": 4.0, "max_neighbors": 12},
    "model": {"tasks": ["dos", "epdos", "fermi", "gap"], **TINY_MODEL},
    "loss": {},
    "train": {"preset": "cpu", "epochs": 3, "batch_size": 4, "eval_batch_size": 8},
    "pretrain": {
        "data": {"val_fraction": 0.25},
        "vae": {"epochs": 2, "batch_size": 4},
        "ldm": {"epochs": 2, "batch_size": 4, "dit": {"d_model": 16, "heads": 2, "layers": 1}},
        "num_threads": 1,
    },
}


GRAPH = {"cutoff": 4.0, "max_neighbors": 12}


def small_structures() -> list[Structure]:
    out = []
    for k, (species, a) in enumerate(
        [(["Na", "Cl"], 5.6), (["Mg", "O"], 4.2), (["Ga", "As"], 5.65), (["Si", "Si"], 5.43), (["Li", "F"], 4.0)]
    ):
        for strain in (1.0, 1.03):
            lat = Lattice.from_parameters(a * strain / 2**0.5, a / 2**0.5, a / 2**0.5, 60, 60, 60 + 2 * k)
            out.append(Structure(lat, species, [[0, 0, 0], [0.5 - 0.05 * k, 0.5, 0.5]]))
    out.append(Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]]))  # one site: skipped by the VAE stage
    out.append(Structure(Lattice.cubic(4.1), ["Ti", "O", "O"], [[0, 0, 0], [0.3, 0.3, 0], [0.7, 0.7, 0]]))
    return out


def train_conftest():
    path = Path(__file__).resolve().parents[1] / "train" / "conftest.py"
    spec = importlib.util.spec_from_file_location("train_conftest_for_pretrain", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_processed(root, graph):
    """The tiny labelled set of tests/train (real graphs, made-up spectra) on disk."""
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed, write_shard

    kit = train_conftest()
    materials = kit.make_materials()
    sha = write_shard(root / "processed" / "shard-00000.h5", materials)
    ids = [m["id"] for m in materials]
    write_json(
        root / "processed" / "manifest.json",
        {
            "ids": ids,
            "grid": kit.GRID.as_dict(),
            "shards": [{"file": "shard-00000.h5", "sha256": sha, "n": len(ids)}],
            "graph": {"params": graph, "keys": ["edge_index", "edge_vec", "lattice_vecs"]},
        },
    )
    split = {"train": [i for i in ids if i.endswith("-0")], "val": ids[1:8:2], "test": ids[9::2]}
    write_json(root / "split" / "split.json", split)
    Normalizer.fit(load_processed(root / "processed"), split["train"]).to_json(root / "split" / "normalization.json")
    return root / "processed", root / "split"
