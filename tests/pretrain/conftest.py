"""Tiny corpus items (real graphs and canonical targets of small cells) for the pretraining tests."""

import pytest
import torch
from pymatgen.core import Lattice, Structure

from dosforge.pretrain.corpus import make_item

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


@pytest.fixture(scope="session")
def items() -> list[dict]:
    return [make_item(f"s{i}", "bundle", s, GRAPH) for i, s in enumerate(small_structures())]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
