"""Session-scoped crystals for the TB tests (built with pymatgen from experimental lattice constants)."""

import pytest
from pymatgen.core import Lattice, Structure


def _prim(spg, a, species, coords):
    return Structure.from_spacegroup(spg, Lattice.cubic(a), species, coords).get_primitive_structure()


@pytest.fixture(scope="session")
def si():
    return _prim("Fd-3m", 5.431, ["Si"], [[0, 0, 0]])


@pytest.fixture(scope="session")
def gaas():
    return _prim("F-43m", 5.653, ["Ga", "As"], [[0, 0, 0], [0.25, 0.25, 0.25]])


@pytest.fixture(scope="session")
def cu():
    return _prim("Fm-3m", 3.615, ["Cu"], [[0, 0, 0]])


@pytest.fixture(scope="session")
def al():
    return _prim("Fm-3m", 4.05, ["Al"], [[0, 0, 0]])


@pytest.fixture(scope="session")
def tio2():
    """Rutile TiO2 (P4_2/mnm, a 4.594, c 2.959, x 0.305): s, p and d orbitals, low symmetry bonds."""
    return Structure.from_spacegroup(
        "P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"], [[0, 0, 0], [0.305, 0.305, 0]]
    )
