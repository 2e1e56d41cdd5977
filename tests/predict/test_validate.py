"""Each kind of structure the model cannot predict is rejected with a reason that names the problem."""

from __future__ import annotations

from pymatgen.core import Element, Lattice, Structure

from dosforge.predict.validate import DEFAULT_MAX_ATOMS, validate_structure

KNOWN_Z = [Element(s).Z for s in ("N", "O", "Na", "Mg", "Si", "Cl", "Cu", "Ga")]


def test_good_structures_pass(good_structures):
    for name, s in good_structures.items():
        assert validate_structure(s, known_z=KNOWN_Z) is None, name


def test_partial_occupancy_and_mixed_sites_are_rejected(bad_structures):
    mixed = validate_structure(bad_structures["disordered"], known_z=KNOWN_Z)
    assert "partial occupancy or mixed species" in mixed and "Na0.5" in mixed
    vacancy = validate_structure(bad_structures["vacancy"], known_z=KNOWN_Z)
    assert "partial occupancy" in vacancy and "Cl0.9" in vacancy


def test_noble_gas_is_rejected(bad_structures):
    assert "noble gas(es) Ar" in validate_structure(bad_structures["noble"], known_z=KNOWN_Z + [18])


def test_element_unseen_in_training_is_rejected_and_named(bad_structures):
    reason = validate_structure(bad_structures["unseen"], known_z=KNOWN_Z)
    assert "element(s) Pu never seen" in reason
    assert "O," not in reason.split("never seen")[0]  # O was seen: only Pu is blamed
    assert validate_structure(bad_structures["unseen"], known_z=None) is None  # no element list: not checked


def test_too_large_structure_is_rejected_with_the_limit(bad_structures):
    assert validate_structure(bad_structures["large"], known_z=KNOWN_Z, max_atoms=432) is None
    reason = validate_structure(bad_structures["large"], known_z=KNOWN_Z, max_atoms=431)
    assert "too large: 432 sites > max_atoms=431" in reason and "docs/predict.md" in reason
    assert DEFAULT_MAX_ATOMS == 500  # documented in docs/predict.md with the memory and time it bounds


def test_empty_and_degenerate_structures_are_rejected():
    assert "empty" in validate_structure(Structure(Lattice.cubic(3.0), [], []))
    flat = Structure(Lattice([[3, 0, 0], [0, 3, 0], [0, 0, 0]]), ["Si"], [[0, 0, 0]])
    assert "degenerate lattice" in validate_structure(flat)


def test_several_problems_are_all_reported():
    s = Structure(Lattice.cubic(4.0), ["Ar", "Pu"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    reason = validate_structure(s, known_z=KNOWN_Z)
    assert "noble gas(es) Ar" in reason and "element(s) Pu" in reason
