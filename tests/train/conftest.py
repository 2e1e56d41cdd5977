"""A tiny processed data set on disk for the training tests: real crystal graphs, made-up spectra.

Sixteen primitive cells (1-2 sites) of eight prototypes with strained lattices; per element a sum of
Gaussians on the project grid (zero inside a gap for the insulators), the DOS is their sum. Written
with the real `dosforge.shards.write_shard` so `load_processed` reads it as it reads preprocess output.
`phonon_dirs`: the same cells with Debye-like phonon spectra on the 51-point frequency grid (manifest spectrum phonon).
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from dosforge.graph import build_graph
from dosforge.grid import EnergyGrid
from dosforge.io import write_json
from dosforge.preprocess.phonon import NO_GAP_ORIGIN, FrequencyGrid

GRID = EnergyGrid()
PROTOTYPES = [  # (point group, Bravais lattice, cubic a, species, primitive frac coords, gap eV)
    ("m-3m", "fcc", 5.43, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]], 1.1),
    ("m-3m", "fcc", 5.64, ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], 5.0),
    ("m-3m", "fcc", 3.61, ["Cu"], [[0, 0, 0]], 0.0),
    ("-43m", "fcc", 5.65, ["Ga", "As"], [[0, 0, 0], [0.25, 0.25, 0.25]], 1.4),
    ("m-3m", "fcc", 4.21, ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]], 4.5),
    ("m-3m", "fcc", 4.05, ["Al"], [[0, 0, 0]], 0.0),
    ("m-3m", "bcc", 2.87, ["Fe"], [[0, 0, 0]], 0.0),
    ("m-3m", "sc", 4.12, ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], 3.0),
]
PRIMITIVE = {  # primitive lattice vectors in units of the cubic lattice constant
    "fcc": [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
    "bcc": [[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]],
    "sc": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
}
N_PER_PROTOTYPE = 2


def _spectrum(rng: np.random.Generator, gap: float) -> np.ndarray:
    e = GRID.centers
    centres = rng.uniform(-9.0, 9.0, size=6)
    heights = rng.uniform(0.2, 2.0, size=6)
    widths = rng.uniform(0.3, 1.2, size=6)
    d = (heights[:, None] * np.exp(-0.5 * ((e[None] - centres[:, None]) / widths[:, None]) ** 2)).sum(0)
    if gap > 0:  # valence band maximum at -gap/3, conduction band minimum at +2 gap/3
        d[(e > -gap / 3) & (e < 2 * gap / 3)] = 0.0
    return d.astype(np.float32)


def make_materials(seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for p, (pg, bravais, a, species, coords, gap) in enumerate(PROTOTYPES):
        for k in range(N_PER_PROTOTYPE):
            s = Structure(Lattice(np.array(PRIMITIVE[bravais]) * a * (1 + 0.02 * k)), species, coords)
            zs = sorted({site.specie.Z for site in s})
            epdos = np.stack([_spectrum(rng, gap) for _ in zs])
            g = build_graph(s, cutoff=4.0, max_neighbors=12)
            out.append(
                {
                    "id": f"tiny-{p}-{k}",
                    "formula": s.composition.reduced_formula,
                    "point_group": pg,
                    "source": "embedded",
                    "gap_origin": "tb",
                    "synthetic": True,
                    "is_metal": gap == 0,
                    "efermi": float(rng.uniform(-3, 5)),
                    "gap": float(gap),
                    "epdos_residual": 0.0,
                    "dos": epdos.sum(0),
                    "lattice": s.lattice.matrix,
                    "epdos": epdos,
                    "epdos_z": np.array(zs, dtype=np.int64),
                    "atomic_numbers": np.array(s.atomic_numbers, dtype=np.int64),
                    "cart_coords": s.cart_coords,
                    "graph": g,
                }
            )
    return out


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """(processed_dir, split_dir) of the tiny data set, written once per session."""
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed, sha256, write_shard

    root = tmp_path_factory.mktemp("tiny")
    processed, split = root / "processed", root / "split"
    materials = make_materials()
    sha = write_shard(processed / "shard-00000.h5", materials)
    ids = [m["id"] for m in materials]
    manifest = {
        "ids": ids,
        "grid": GRID.as_dict(),
        "shards": [{"file": "shard-00000.h5", "sha256": sha, "n": len(ids)}],
        "graph": {"params": {"cutoff": 4.0, "max_neighbors": 12}, "keys": ["edge_index", "edge_vec", "lattice_vecs"]},
    }
    write_json(processed / "manifest.json", manifest)
    assert sha256(processed / "shard-00000.h5") == sha
    # every prototype in train; the strained copies of four prototypes form val, four others test
    train = [i for i in ids if i.endswith("-0")]
    val = [i for i in ids if i.endswith("-1") and int(i.split("-")[1]) < 4]
    test = [i for i in ids if i.endswith("-1") and int(i.split("-")[1]) >= 4]
    write_json(
        split / "split.json", {"seed": 0, "fractions": [0.5, 0.25, 0.25], "train": train, "val": val, "test": test}
    )
    Normalizer.fit(load_processed(processed), train).to_json(split / "normalization.json")
    return processed, split


PHONON_GRID = FrequencyGrid(0.0, 1000.0, 51)


def _debye(rng, n_rows: int) -> np.ndarray:
    """Per element a Debye-like w^2 rise to a random cutoff, then 0 (max-normalised like phonon.normalize=max)."""
    w = PHONON_GRID.values
    cut = rng.uniform(200.0, 700.0, size=n_rows)
    rows = np.where(w[None] <= cut[:, None], (w[None] / cut[:, None]) ** 2, 0.0)
    return (rows / rows.sum(0).max()).astype(np.float32)


@pytest.fixture(scope="session")
def phonon_dirs(tmp_path_factory):
    """(processed_dir, split_dir) of the tiny training set with phonon spectra on the 51-point grid."""
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed, write_shard

    rng = np.random.default_rng(1)
    materials = make_materials()
    for m in materials:
        m["epdos"] = _debye(rng, len(m["epdos_z"]))
        m.update(dos=m["epdos"].sum(0), efermi=0.0, gap=0.0, is_metal=False, gap_origin=NO_GAP_ORIGIN)
    root = tmp_path_factory.mktemp("phonon")
    processed, split = root / "processed", root / "split"
    sha = write_shard(processed / "shard-00000.h5", materials)
    ids = [m["id"] for m in materials]
    manifest = {
        "ids": ids,
        "spectrum": "phonon",
        "grid": PHONON_GRID.as_dict(),
        "shards": [{"file": "shard-00000.h5", "sha256": sha, "n": len(ids)}],
        "graph": {"params": {"cutoff": 4.0, "max_neighbors": 12}, "keys": ["edge_index", "edge_vec", "lattice_vecs"]},
    }
    write_json(processed / "manifest.json", manifest)
    train, val, test = ids[::2], ids[1::4], ids[3::4]
    write_json(
        split / "split.json", {"seed": 0, "fractions": [0.5, 0.25, 0.25], "train": train, "val": val, "test": test}
    )
    Normalizer.fit(load_processed(processed), train).to_json(split / "normalization.json")
    return processed, split


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """(tracking uri, artifact folder) of one temporary sqlite store (creating one costs seconds)."""
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'mlflow.db'}", root / "artifacts"
