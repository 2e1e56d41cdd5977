"""Session fixtures for the predict tests: small real crystals built with pymatgen, a fake Materials
Project client, and a tiny untrained DOSForge checkpoint written by the training code's own writer."""

from __future__ import annotations

import pytest
from pymatgen.core import Element, Lattice, Structure

TRAINING_ELEMENTS = ("N", "O", "Na", "Mg", "Si", "Cl", "Cu", "Ga")  # what the fixture checkpoint "saw"


def _silicon() -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]).get_primitive_structure()


def _rocksalt() -> Structure:
    conv = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return conv.get_primitive_structure()


def _gan() -> Structure:
    lattice = Lattice.hexagonal(3.19, 5.19)
    return Structure.from_spacegroup("P6_3mc", lattice, ["Ga", "N"], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.377]])


def _copper() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]]).get_primitive_structure()


@pytest.fixture(scope="session")
def silicon() -> Structure:
    return _silicon()


@pytest.fixture(scope="session")
def rocksalt() -> Structure:
    return _rocksalt()


@pytest.fixture(scope="session")
def gan() -> Structure:
    return _gan()


@pytest.fixture(scope="session")
def copper() -> Structure:
    return _copper()


@pytest.fixture(scope="session")
def good_structures() -> dict[str, Structure]:
    return {"Si": _silicon(), "NaCl": _rocksalt(), "GaN": _gan(), "Cu": _copper()}


@pytest.fixture(scope="session")
def bad_structures() -> dict[str, Structure]:
    """One structure per kind of bad input the validator must name (unreadable files are made per test)."""
    disordered = _rocksalt()
    disordered.replace_species({Element("Na"): {"Na": 0.5, "Mg": 0.5}})
    vacancy = _rocksalt()
    vacancy.replace_species({Element("Cl"): {"Cl": 0.9}})
    noble = Structure(Lattice.cubic(5.26), ["Ar"], [[0, 0, 0]])
    unseen = Structure(Lattice.cubic(4.0), ["Pu", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    large = _silicon() * (6, 6, 6)  # 432 sites: refused before the primitive search when max_atoms < 432 / 4
    # 16 sites that do not reduce to a smaller primitive cell: too large for max_atoms < 16 after the search
    large_primitive = _silicon() * (2, 2, 2)
    large_primitive.perturb(0.4)  # displacements > 0.25 A (the primitive-search tolerance) break the translations
    return {
        "disordered": disordered,
        "vacancy": vacancy,
        "noble": noble,
        "unseen": unseen,
        "large": large,
        "large_primitive": large_primitive,
    }


class FakeMPRester:
    """Stands in for mp_api's MPRester: `get_structure_by_material_id` and the context-manager exit."""

    def __init__(self, structures: dict[str, Structure]):
        self.structures = structures
        self.requested: list[str] = []
        self.closed = False

    def get_structure_by_material_id(self, material_id: str, final: bool = True, conventional_unit_cell=False):
        self.requested.append(material_id)
        if material_id not in self.structures:
            raise ValueError(f"{material_id} not found in the Materials Project")  # what MPRester raises, in shape
        return self.structures[material_id]

    def __exit__(self, *exc):
        self.closed = True


@pytest.fixture
def fake_mp():
    """(factory, client): the factory counts its calls so tests can check the client is made lazily, once."""
    client = FakeMPRester({"mp-149": _silicon(), "mp-22862": _rocksalt()})
    calls = []

    def factory():
        calls.append(1)
        return client

    factory.calls = calls
    return factory, client


TINY_MODEL = {
    "tasks": ["dos", "epdos", "fermi", "gap"],
    "coupling": "cross",
    "gap_head": "extract",
    "size": "small",
    "encoder": {"d": 16, "layers": 2, "heads": 1, "rbf_bins": 16, "angle_bins": 16},
    "decoder": {"heads": 2, "head_dim": 8, "ffn_mult": 2, "n_patches": 32, "l1": 1, "l2": 1},
}


def tiny_normalization() -> dict:
    """Statistics in the shape of data/split/normalization.json (values typical of per-cell DOS, E_F, E_g)."""
    epdos = {
        str(Element(s).Z): {"clip": 30.0, "mean": 0.4 + 0.05 * i, "std": 0.8} for i, s in enumerate(TRAINING_ELEMENTS)
    }
    return {
        "dos": {"clip": 40.0, "mean": 1.2, "std": 1.5},
        "epdos": epdos,
        "epdos_default": {"clip": 30.0, "mean": 0.5, "std": 0.8},
        "fermi": {"mean": 3.0, "std": 2.5},
        "gap": {"mean": 0.8, "std": 1.2},
    }


def write_tiny_checkpoint(path, *, synthetic: bool = True, seed: int = 0, **model_overrides):
    """An untrained tiny DOSForge written by the training code's `save_best`, with the metadata it records."""
    import torch

    from dosforge.model import DOSForge, ModelConfig
    from dosforge.normalize import Normalizer
    from dosforge.train.checkpoint import save_best

    torch.manual_seed(seed)
    config = ModelConfig.from_dict({**TINY_MODEL, **model_overrides})
    model = DOSForge(config).eval()
    model.set_normalization(Normalizer(tiny_normalization()))  # as training does before its first step
    meta = {
        "name": "tiny-untrained",
        "model_config": config.to_dict(),
        "tasks": list(config.tasks),
        "normalization": tiny_normalization(),
        "grid": {"emin": -10.0, "emax": 10.0, "bins": 256, "de": 20.0 / 256},
        "elements": sorted(Element(s).Z for s in TRAINING_ELEMENTS),
        "source": "embedded",
        "synthetic": synthetic,
        "graph_params": {"cutoff": 4.0, "max_neighbors": 12},
        "epoch": 0,
        "score": float("nan"),
    }
    save_best(path, model=model, meta=meta)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint_writer():
    """`write_tiny_checkpoint(path, **model_overrides)`, for tests that need a checkpoint of another shape."""
    return write_tiny_checkpoint


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt")


@pytest.fixture(scope="session")
def predictor(checkpoint):
    import dosforge

    return dosforge.load_model(checkpoint)
