"""preprocess of phonon records: the cm^-1 grid, resampling with the 3N count, max / dosforge normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from dosforge.config import ConfigError
from dosforge.io import write_json
from dosforge.preprocess import preprocess
from dosforge.preprocess.phonon import FrequencyGrid, options, resample
from dosforge.records import PhononRecord, RawRecord, write_record
from dosforge.shards import load_processed

GRID = FrequencyGrid(0.0, 1000.0, 51)


def debye(record_id: str, cutoff: float = 300.0, elements: bool = True) -> PhononRecord:
    """NaCl-like 2-site cell, Debye DOS 9N w^2 / w_D^3 below w_D (3N = 6 modes), split 2:1 over Na and Cl."""
    structure = Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    w = np.linspace(-5.0, 400.0, 811)
    total = np.where((w >= 0) & (w <= cutoff), 18 * w**2 / cutoff**3, 0.0)
    elems = {"Na": 2 * total / 3, "Cl": total / 3} if elements else None
    return PhononRecord(record_id, "files", False, structure.as_dict(), w, total, elems)


def test_average_resampling_keeps_the_3n_mode_count():
    rec = debye("a")
    dos = resample(rec.frequencies, rec.total, GRID, "average")
    raw_count = np.trapezoid(rec.total, rec.frequencies)  # 3N = 6 up to the trapezoid error at the Debye edge
    assert raw_count == pytest.approx(6.0, rel=5e-3)
    assert dos.sum() * GRID.step == pytest.approx(raw_count, rel=1e-9)  # exactly the raw count on the grid
    point = resample(rec.frequencies, rec.total, GRID, "interpolate")
    np.testing.assert_allclose(point, np.interp(GRID.values, rec.frequencies, rec.total))
    assert dos[GRID.values > 320].max() == 0.0  # nothing above the highest mode


def _raw(tmp_path, records, spectrum="phonon"):
    raw = tmp_path / "raw"
    for rec in records:
        write_record(raw, rec)
    write_json(raw / "fetch_report.json", {"source": "files", "synthetic": False, "spectrum": spectrum, "skipped": []})
    return raw


@pytest.mark.parametrize("normalize", ["max", "dosforge"])
def test_phonon_preprocess_writes_shards_and_manifest(tmp_path, normalize):
    electron = RawRecord("el", "files", False, debye("x").structure, 0.0, np.arange(3.0), {"up": np.ones(3)}, None)
    raw = _raw(tmp_path, [debye("a"), debye("b", cutoff=200.0), debye("c", elements=False), electron])
    params = {"phonon": {"normalize": normalize}, "preprocess": {"workers": 1}}
    manifest = preprocess(raw, tmp_path / "out", params, graph_builder=None, progress=False)
    assert manifest["spectrum"] == "phonon" and manifest["grid"]["unit"] == "cm^-1" and manifest["grid"]["bins"] == 51
    assert manifest["ids"] == ["a", "b"]
    assert manifest["rejected_by_reason"] == {"processing error": 1, "projections missing": 1}
    data = load_processed(tmp_path / "out")
    a, b = data.sample(data.index("a")), data.sample(data.index("b"))
    assert a["dos"].shape == (51,) and a["epdos"].shape == (2, 51) and list(a["epdos_z"]) == [11, 17]
    if normalize == "max":
        assert a["dos"].max() == pytest.approx(1.0) and b["dos"].max() == pytest.approx(1.0)
        assert manifest["scale"]["a"] * a["dos"].sum() * GRID.step == pytest.approx(6.0, rel=5e-3)
    else:
        assert a["dos"].sum() * GRID.step == pytest.approx(6.0, rel=5e-3) and set(manifest["scale"].values()) == {1.0}
    np.testing.assert_allclose(a["epdos"].sum(0), a["dos"], rtol=1e-5)
    assert manifest["mode_fraction_in_window"]["min"] == pytest.approx(1.0, abs=5e-3)


def test_bad_phonon_params_are_rejected():
    with pytest.raises(ConfigError, match="unknown key"):
        FrequencyGrid.from_params({"phonon": {"bins": 51}})
    with pytest.raises(ConfigError, match="max, dosforge"):
        options({"phonon": {"normalize": "l2"}})
    with pytest.raises(ConfigError, match="fmax > fmin"):
        FrequencyGrid.from_params({"phonon": {"fmin": 100.0, "fmax": 50.0}})
