"""SYNTHETIC phonon labels (CHGNet + phonopy) on 1-2 site bundled cells with short relaxations and a coarse mesh."""

from __future__ import annotations

import numpy as np
import pytest

from dosforge.phonon.label import LabelParams, forces, label_phonons, supercell_size
from dosforge.phonon.validate import check_phonon_record, mode_count
from dosforge.sources.embedded import entry_structure, load_bundle
from dosforge.sources.embedded_phonon import _label_job

FAST = LabelParams(relax_steps=40, mesh=12.0)  # tests: fewer steps and q-points than the default


def entry(entry_id: str) -> dict:
    return next(e for e in load_bundle() if e["id"] == entry_id)


@pytest.fixture(scope="module")
def hfc():
    return _label_job((entry("proto-B1-HfC"), FAST))


def test_stable_cell_gives_a_synthetic_record_with_3n_modes(hfc):
    entry_id, outcome = hfc
    assert entry_id == "proto-B1-HfC" and "record" in outcome, outcome
    from dosforge.records import PhononRecord

    rec = PhononRecord.from_dict(outcome["record"])
    assert rec.synthetic and rec.source == "embedded" and rec.spectrum == "phonon"
    assert mode_count(rec) == pytest.approx(6.0, rel=1e-3)  # 3N for the 2-site rock-salt cell
    check_phonon_record(rec)
    np.testing.assert_allclose(rec.elements["Hf"] + rec.elements["C"], rec.total, atol=1e-12)
    # the light atom carries the high (optical) modes: C's mean frequency above Hf's
    mean = {el: np.trapezoid(g * rec.frequencies, rec.frequencies) / np.trapezoid(g, rec.frequencies)
            for el, g in rec.elements.items()}  # fmt: skip
    assert mean["C"] > 2 * mean["Hf"]
    for key in ("chgnet", "phonopy", "chgnet_checkpoint", "generator_version"):
        assert rec.meta[key], key
    assert "not DFPT" in rec.meta["potential"] and rec.meta["supercell"] == [2, 2, 2]
    assert rec.min_frequency > FAST.imaginary_threshold_cm


def test_unstable_cell_is_excluded_by_the_imaginary_mode_rule():
    # bcc Pd (the A2 prototype; Pd is fcc in nature) is dynamically unstable: imaginary modes under CHGNet too
    entry_id, outcome = _label_job((entry("proto-A2-Pd"), FAST))
    assert outcome.get("unstable") and outcome["min_frequency"] < FAST.imaginary_threshold_cm
    lenient = LabelParams(relax_steps=40, mesh=12.0, imaginary_threshold_cm=outcome["min_frequency"] - 1.0)
    assert "record" in _label_job((entry("proto-A2-Pd"), lenient))[1]  # the threshold is what decides


def test_labels_are_deterministic(hfc):
    _, again = _label_job((entry("proto-B1-HfC"), FAST))
    assert again == hfc[1]  # the same structure twice: the identical record, bit for bit


def test_supercell_rule():
    si = entry_structure(entry("proto-A4-Si"))
    assert supercell_size(si, LabelParams()) == [2, 2, 2]  # below 8 sites
    assert supercell_size(si * (2, 2, 2), LabelParams()) == [1, 1, 1]  # 16 sites
    assert supercell_size(si, LabelParams(supercell_min_length=12.0)) == [4, 4, 4]  # a ~3.9 A primitive cell


def test_supercell_atom_bound():
    si = entry_structure(entry("proto-A4-Si"))  # 2 sites, ~3.9 A along each axis
    unbounded = LabelParams(supercell_min_length=16.0, supercell_max_atoms=0)
    assert supercell_size(si, unbounded) == [5, 5, 5]  # 250 atoms
    assert supercell_size(si, LabelParams(supercell_min_length=16.0)) == [4, 4, 4]  # default bound: 128 atoms
    assert supercell_size(si, LabelParams(supercell_max_atoms=10)) == [1, 2, 2]  # even the 2x2x2 rule gives way
    assert supercell_size(si, LabelParams(supercell_max_atoms=1)) == [1, 1, 1]  # never below the cell itself
    long_c = si.copy()
    long_c.make_supercell([1, 1, 3])  # 6 sites, c ~3x longer: shortened along c first
    assert supercell_size(long_c, LabelParams(supercell_min_length=12.0, supercell_max_atoms=0)) == [4, 4, 2]
    assert supercell_size(long_c, LabelParams(supercell_min_length=12.0, supercell_max_atoms=96)) == [4, 4, 1]


def test_force_batches_change_memory_not_forces():
    si = entry_structure(entry("proto-A4-Si")) * (2, 2, 2)  # 16 atoms
    cells = []
    for shift in (0.0, 0.01, 0.02):
        cell = si.copy()
        cell.translate_sites([0], [shift, 0.0, 0.0], frac_coords=False)
        cells.append(cell)
    one_by_one = forces(cells, LabelParams().checkpoint, batch_atoms=1)
    together = forces(cells, LabelParams().checkpoint, batch_atoms=48)
    assert one_by_one.shape == (3, 16, 3) and np.abs(one_by_one[1]).max() > 1e-3  # a displaced atom feels a force
    assert np.array_equal(one_by_one, together)


def test_label_of_a_structure_is_independent_of_its_setting():
    si = entry_structure(entry("proto-A4-Si"))
    a = label_phonons(si, FAST)
    b = label_phonons(si.copy().translate_sites(range(len(si)), [0.1, 0.1, 0.1]), FAST)  # same crystal, shifted origin
    assert mode_count_arrays(a) == pytest.approx(6.0, rel=1e-3)
    np.testing.assert_allclose(a.total, b.total, atol=1e-6 * a.total.max())


def mode_count_arrays(label) -> float:
    return float(np.trapezoid(label.total, label.frequencies_cm))
