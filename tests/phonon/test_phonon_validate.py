"""`dosforge.phonon.validate`: the 3N mode count and the other reject reasons of phonon records."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from dosforge.phonon.validate import MODE_COUNT, NEGATIVE, check_phonon_record, mode_count
from dosforge.preprocess.validate import NO_PROJECTIONS, NOBLE_GAS, NOT_INCREASING, SHAPE, Reject
from dosforge.records import PhononRecord, read_record, write_record


def debye_record(n_sites: int = 2, scale: float = 1.0) -> PhononRecord:
    """A Debye DOS g(w) = 9N w^2 / w_D^3 up to w_D: integrates to 3N (x scale)."""
    structure = Structure(Lattice.cubic(4.2), ["Na", "Cl"][:n_sites], [[0, 0, 0], [0.5, 0.5, 0.5]][:n_sites])
    w = np.linspace(0.0, 300.0, 3001)
    total = scale * 9 * n_sites * w**2 / 300.0**3
    elements = {"Na": total / 2, "Cl": total / 2} if n_sites == 2 else {"Na": total}
    return PhononRecord("debye", "files", False, structure.as_dict(), w, total, elements)


def test_debye_dos_counts_3n_modes_and_passes():
    rec = debye_record()
    assert mode_count(rec) == pytest.approx(6.0, rel=1e-6)
    check_phonon_record(rec)


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_wrong_mode_count_is_rejected(scale):
    with pytest.raises(Reject) as err:
        check_phonon_record(debye_record(scale=scale))
    assert err.value.reason == MODE_COUNT and "3N = 6" in err.value.detail


def test_each_broken_record_gets_its_reason():
    rec = debye_record()
    rec.total = rec.total.copy()
    rec.total[10] = -1.0
    with pytest.raises(Reject, match=NEGATIVE):
        check_phonon_record(rec)
    rec = debye_record()
    rec.frequencies = rec.frequencies[::-1].copy()
    with pytest.raises(Reject, match=NOT_INCREASING):
        check_phonon_record(rec)
    rec = debye_record()
    rec.elements = {"Na": rec.total}
    with pytest.raises(Reject, match=NO_PROJECTIONS):
        check_phonon_record(rec)
    rec = debye_record()
    rec.total = rec.total[:-1]
    with pytest.raises(Reject, match=SHAPE):
        check_phonon_record(rec)
    rec = debye_record()
    rec.structure = Structure(Lattice.cubic(4.0), ["Ar"], [[0, 0, 0]]).as_dict()
    with pytest.raises(Reject, match=NOBLE_GAS):
        check_phonon_record(rec)


def test_projections_are_optional():
    rec = debye_record()
    rec.elements = None
    check_phonon_record(rec)


def test_phonon_record_round_trips_and_is_told_apart_from_electron_records(tmp_path):
    rec = debye_record()
    rec.min_frequency, rec.meta = -0.5, {"generator": "test"}
    loaded = read_record(write_record(tmp_path, rec))
    assert isinstance(loaded, PhononRecord) and loaded.spectrum == "phonon" and loaded.frequency_unit == "cm^-1"
    np.testing.assert_array_equal(loaded.total, rec.total)
    np.testing.assert_array_equal(loaded.elements["Cl"], rec.elements["Cl"])
    assert loaded.min_frequency == -0.5 and loaded.meta == {"generator": "test"}
