"""Session fixtures for the model tests (structures and labelled samples; labels are synthetic test spectra)."""

import pytest
import torch
from model_testkit import make_sample
from pymatgen.core import Lattice, Structure


@pytest.fixture(scope="session")
def structures() -> dict[str, Structure]:
    tri = Lattice.from_parameters(3.1, 4.0, 5.2, 80, 95, 105)
    return {
        "tio2_tri": Structure(tri, ["Ti", "O", "O"], [[0, 0, 0], [0.3, 0.2, 0.1], [0.6, 0.7, 0.4]]),
        "nacl": Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        "gaas_mono": Structure(
            Lattice.from_parameters(4.0, 4.4, 5.0, 90, 100, 90),
            ["Ga", "As", "Ga", "As"],
            [[0, 0, 0], [0.25, 0.3, 0.2], [0.5, 0.55, 0.6], [0.8, 0.9, 0.75]],
        ),
        "si": Structure(Lattice.from_parameters(3.8, 3.8, 3.8, 60, 60, 60), ["Si", "Si"], [[0, 0, 0], [0.25] * 3]),
    }


@pytest.fixture(scope="session")
def samples(structures) -> list[dict]:
    return [make_sample(s, name, seed=i) for i, (name, s) in enumerate(structures.items())]


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    """Seeded, and one intra-op thread: these tiny tensors only lose from threading on a shared 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
