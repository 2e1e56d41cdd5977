"""Point groups with the stated tolerance and fallback."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from dosforge.preprocess import symmetry


@pytest.fixture(scope="module")
def rocksalt():
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_point_group_at_mp_tolerance(rocksalt):
    assert symmetry.point_group(rocksalt) == ("m-3m", 0.1)
    distorted = rocksalt.copy()
    distorted.translate_sites([0], [0.004, 0, 0])  # 0.02 A: still m-3m at symprec 0.1 A, as MP would see it
    assert symmetry.point_group(distorted)[0] == "m-3m"


def test_magnetic_order_does_not_change_the_crystallographic_point_group(rocksalt):
    afm = rocksalt.copy()
    afm.add_site_property("magmom", [2.0, 2.0, -2.0, -2.0, 0.0, 0.0, 0.0, 0.0])  # layered AFM on Na
    assert symmetry.point_group(afm)[0] == "m-3m"


def test_retries_tighter_then_falls_back_to_1(rocksalt, monkeypatch):
    real = symmetry.spglib_point_group

    def fails_at_loose(cell, symprec):
        if symprec == 0.1:
            raise ValueError("spglib failed")
        return real(cell, symprec)

    monkeypatch.setattr(symmetry, "spglib_point_group", fails_at_loose)
    assert symmetry.point_group(rocksalt) == ("m-3m", 0.01)

    monkeypatch.setattr(symmetry, "spglib_point_group", lambda cell, symprec: None)  # spglib's "no dataset"
    assert symmetry.point_group(rocksalt) == ("1", None)


def test_same_symbol_as_pymatgen_spacegroup_analyzer(rocksalt):
    """The direct spglib call gives SpacegroupAnalyzer's symbol on 300 bundled MP structures (all 7 systems)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from dosforge.io import read_json
    from dosforge.sources.embedded import BUNDLE

    entries = read_json(BUNDLE)["entries"][::16][:300]
    structures = [Structure(e["lattice"], e["species"], e["frac_coords"]) for e in entries]
    distorted = rocksalt.copy()
    distorted.translate_sites([0], [0.03, 0.01, 0])  # beyond 0.1 A: a lower point group
    for s in [*structures, rocksalt, distorted]:
        for symprec in symmetry.SYMPRECS:
            sga = SpacegroupAnalyzer(s, symprec=symprec, angle_tolerance=symmetry.ANGLE_TOLERANCE)
            assert symmetry.spglib_point_group(symmetry.spglib_cell(s), symprec) == sga.get_point_group_symbol()


def _numbers_by_in_and_index(structure) -> list[int]:
    """spglib_cell's numbering as written before issue 14: `in`, then `index`."""
    unique, numbers = [], []
    for site in structure:
        if site.species not in unique:
            unique.append(site.species)
        numbers.append(unique.index(site.species) + 1)
    return numbers


def test_species_numbers_in_order_of_first_appearance():
    lattice = Lattice.cubic(4.0)
    perovskite = Structure(
        lattice, ["Ti", "O", "Sr", "O", "O"], [[0.5] * 3, [0.5, 0.5, 0], [0] * 3, [0.5, 0, 0.5], [0, 0.5, 0.5]]
    )
    assert symmetry.spglib_cell(perovskite)[2] == [1, 2, 3, 2, 2]
    # oxidation states make different species; equal ones share a number, however they were written
    mixed = Structure(
        lattice, ["Fe2+", "Fe3+", "O2-", "Fe2+", "O2-"], [[0, 0, 0], [0.5] * 3, [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    )
    assert symmetry.spglib_cell(mixed)[2] == [1, 2, 3, 1, 3]
    for s in (perovskite, mixed):
        assert symmetry.spglib_cell(s)[2] == _numbers_by_in_and_index(s)
