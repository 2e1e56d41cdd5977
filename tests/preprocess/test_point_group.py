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
    real = symmetry.SpacegroupAnalyzer

    def fails_at_loose(structure, symprec, angle_tolerance):
        if symprec == 0.1:
            raise ValueError("spglib failed")
        return real(structure, symprec=symprec, angle_tolerance=angle_tolerance)

    monkeypatch.setattr(symmetry, "SpacegroupAnalyzer", fails_at_loose)
    assert symmetry.point_group(rocksalt) == ("m-3m", 0.01)

    def always_fails(structure, symprec, angle_tolerance):
        raise ValueError("spglib failed")

    monkeypatch.setattr(symmetry, "SpacegroupAnalyzer", always_fails)
    assert symmetry.point_group(rocksalt) == ("1", None)
