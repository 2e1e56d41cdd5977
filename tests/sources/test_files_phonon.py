"""The `files` source with `data.spectrum: phonon`, on a phonopy run made in the test (EMT, tiny cells)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Structure
from pymatgen.phonon.dos import CompletePhononDos, PhononDos

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "phonon"))
from phonopy_run import run_phonopy  # noqa: E402

from dosforge.config import ConfigError  # noqa: E402
from dosforge.phonon import THZ_TO_CM  # noqa: E402
from dosforge.phonon.validate import mode_count  # noqa: E402
from dosforge.records import PhononRecord, iter_record_paths, read_record  # noqa: E402
from dosforge.sources import fetch  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("phonon_files")
    phonons = {"Cu3Au": run_phonopy(root / "Cu3Au", "Cu3Au"), "Cu": run_phonopy(root / "runs" / "Cu", "Cu", False)}
    cu3au = phonons["Cu3Au"]
    prim = cu3au.primitive
    structure = Structure(prim.cell, prim.symbols, prim.scaled_positions)
    freqs = cu3au.projected_dos.frequency_points
    complete = CompletePhononDos(
        structure,
        PhononDos(freqs, cu3au.projected_dos.projected_dos.sum(axis=0)),
        dict(zip(structure, cu3au.projected_dos.projected_dos, strict=True)),
    )
    (root / "cu3au_complete.json").write_text(json.dumps(complete.as_dict()))
    (root / "no_structure.json").write_text(json.dumps(PhononDos(freqs, np.ones_like(freqs)).as_dict()))
    (root / "orphan").mkdir()
    (root / "orphan" / "total_dos.dat").write_text("0 0\n1 1\n2 0\n")  # no phonopy yaml beside it
    (root / "README.txt").write_text("not a phonon file")  # listed, never silently ignored (issue 14)
    (root / "lonely").mkdir()
    (root / "lonely" / "projected_dos.dat").write_text("0 0\n")  # a companion without its total_dos.dat
    return root, phonons


def _fetch(root: Path, out: Path, **files) -> dict:
    params = {"data": {"source": "files", "spectrum": "phonon", "path": str(root), "max_sites": 20}, "files": files}
    return fetch(params, out)


def test_phonopy_output_and_pymatgen_json_become_phonon_records(runs, tmp_path):
    root, _ = runs
    report = _fetch(root, tmp_path / "raw")
    recs = {r.id: r for r in map(read_record, iter_record_paths(tmp_path / "raw"))}
    assert sorted(recs) == ["Cu3Au", "cu3au_complete", "runs/Cu"]
    assert report["spectrum"] == "phonon" and report["synthetic"] is False and report["n_records"] == 3
    assert report["skipped_counts"] == {"unparseable": 2}  # the DOS without a structure, the run without a yaml
    reasons = {s["id"]: s["detail"] for s in report["skipped"]}
    assert "without a structure" in reasons["no_structure"] and "phonopy_disp.yaml" in reasons["orphan"]
    unread = {u["file"]: u["reason"] for u in report["unread_files"]}
    assert unread == {
        "README.txt": "matched no pattern",
        "lonely/projected_dos.dat": "phonopy file without total_dos.dat",
    }
    for rec in recs.values():
        assert isinstance(rec, PhononRecord) and rec.source == "files" and not rec.synthetic
        n_sites = len(rec.structure["sites"])
        assert mode_count(rec) == pytest.approx(3 * n_sites, rel=0.01)  # the 3N integral, cm^-1 units
    dat, js = recs["Cu3Au"], recs["cu3au_complete"]
    assert sorted(dat.elements) == ["Au", "Cu"] and recs["runs/Cu"].elements is None
    np.testing.assert_allclose(sum(dat.elements.values()), dat.total, atol=1e-6 * dat.total.max())
    np.testing.assert_allclose(dat.frequencies, js.frequencies, atol=1e-9)  # same run read two ways agrees
    np.testing.assert_allclose(dat.elements["Au"], js.elements["Au"], atol=1e-8)
    # per element: Au carries 3 of the 12 modes of Cu3Au
    assert np.trapezoid(dat.elements["Au"], dat.frequencies) == pytest.approx(3.0, rel=0.01)


def test_frequency_unit_is_applied_and_checked(runs, tmp_path):
    root, phonons = runs
    top_thz = phonons["Cu"].mesh.frequencies.max()
    thz = read_record(iter_record_paths(_fetch_dir(root / "runs", tmp_path / "thz"))[0])
    cm = read_record(iter_record_paths(_fetch_dir(root / "runs", tmp_path / "cm", frequency_unit="cm^-1"))[0])
    assert thz.frequencies[-1] > top_thz * THZ_TO_CM > 200.0  # Cu's top mode ~ 7.8 THz under EMT
    np.testing.assert_allclose(thz.frequencies, cm.frequencies * THZ_TO_CM)
    assert mode_count(thz) == pytest.approx(mode_count(cm))  # the count is unit-free: densities scale inversely
    with pytest.raises(ConfigError, match="THz, cm\\^-1"):
        _fetch(root / "runs", tmp_path / "bad", frequency_unit="meV")


def _fetch_dir(root: Path, out: Path, **files) -> Path:
    _fetch(root, out, **files)
    return out
