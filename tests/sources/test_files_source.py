"""The `files` source on the real MP DOS fixtures and on broken files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from mp_fake import load_json
from pymatgen.electronic_structure.core import Spin
from pymatgen.electronic_structure.dos import CompleteDos
from vasprun_writer import write_vasprun

from dosforge.records import iter_record_paths, read_record
from dosforge.sources.files import fetch_files, record_stem


@pytest.fixture(scope="module")
def fetched(fixtures_dir, tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    report = fetch_files({"data": {"path": str(fixtures_dir), "max_sites": 30}}, raw)
    return report, {r.id: r for r in map(read_record, iter_record_paths(raw))}


def test_every_fixture_becomes_a_record(fetched):
    report, recs = fetched
    assert sorted(recs) == ["Fe_dos", "GaN_dos", "complete_dos", "es_dos_objs-0", "es_dos_objs-1"]
    assert report["skipped"] == []
    formulas = {k: r.meta["file"] for k, r in recs.items()}
    assert formulas["es_dos_objs-0"] == "es_dos_objs.json.gz"


def test_records_keep_spins_projections_and_read_gap_off_the_dos(fetched, fixtures_dir):
    _, recs = fetched
    for rid in ("Fe_dos", "complete_dos", "es_dos_objs-0"):  # the spin-polarised ones
        assert set(recs[rid].total) == {"up", "down"}
    assert set(recs["GaN_dos"].total) == {"up"}
    assert set(recs["complete_dos"].elements) == {"Li", "Fe", "P", "O"}
    gan = CompleteDos.from_dict(load_json(fixtures_dir / "GaN_dos.json.gz"))
    rec = recs["GaN_dos"]
    assert rec.gap_origin == "dos" and rec.band_gap == pytest.approx(gan.get_gap())
    assert rec.efermi == gan.efermi and not rec.is_metal and not rec.synthetic
    np.testing.assert_allclose(
        rec.elements["Ga"]["up"], gan.get_element_dos()[gan.structure[0].specie].densities[list(gan.densities)[0]]
    )
    assert recs["Fe_dos"].is_metal and recs["Fe_dos"].band_gap == 0


def test_broken_and_oversized_files_are_skipped_with_reasons(fixtures_dir, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(fixtures_dir / "complete_dos.json.gz", src / "sub")  # 25 sites
    shutil.copy(fixtures_dir / "Fe_dos.json.gz", src)
    (src / "broken.json").write_text('{"energies": [1, 2')
    (src / "plain_dos.json").write_text(json.dumps({"energies": [0, 1], "densities": {"1": [0, 0]}, "efermi": 0}))
    (src / "vasprun.xml").write_text("<modeling><generator>")  # truncated vasprun
    report = fetch_files({"data": {"path": str(src), "max_sites": 20}}, src / "raw")
    reasons = {s["id"]: s["reason"] for s in report["skipped"]}
    assert reasons == {
        "broken": "unparseable",
        "plain_dos": "unparseable",
        "vasprun": "unparseable",
        "sub/complete_dos": "too many sites",
    }
    assert report["n_written"] == 1
    # a second run with raw/ inside data.path does not read its own records back
    again = fetch_files({"data": {"path": str(src), "max_sites": 20}}, src / "raw")
    assert again["n_files"] == report["n_files"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="data.path"):
        fetch_files({"data": {"path": None}}, tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        fetch_files({"data": {"path": str(tmp_path / "nope")}}, tmp_path)


def test_record_ids_are_stable_paths(tmp_path):
    assert record_stem(tmp_path / "Si" / "vasprun.xml.gz", tmp_path) == "Si"
    assert record_stem(tmp_path / "a" / "vasprun.relax2.xml", tmp_path) == "a/vasprun.relax2"
    assert record_stem(tmp_path / "x" / "GaN_dos.json.gz", tmp_path) == "x/GaN_dos"


def test_vasprun_files_give_dft_gaps_and_projections(fixtures_dir, tmp_path):
    si = CompleteDos.from_dict(load_json(fixtures_dir / "es_dos_objs.json.gz")[1]["data"])
    lfp = CompleteDos.from_dict(load_json(fixtures_dir / "complete_dos.json.gz"))  # GGA+U, spin-polarised
    expected = {}
    for folder, dos in (("Si_run", si), ("LFP/relax", lfp)):
        cbm, vbm = dos.get_cbm_vbm()
        (tmp_path / folder).mkdir(parents=True)
        write_vasprun(tmp_path / folder / "vasprun.xml.gz", dos, vbm, cbm, ldau=dos is lfp)
        expected[folder] = (dos, cbm - vbm)
    report = fetch_files({"data": {"path": str(tmp_path), "max_sites": 30}}, tmp_path / "raw")
    assert report["n_written"] == 2 and not report["skipped"]
    recs = {r.id: r for r in map(read_record, iter_record_paths(tmp_path / "raw"))}
    for folder, (dos, gap) in expected.items():
        rec = recs[folder]
        assert rec.gap_origin == "dft" and rec.band_gap == pytest.approx(gap, abs=1e-6)
        assert rec.efermi == pytest.approx(dos.efermi) and len(rec.total) == len(dos.densities)
        for el, edos in dos.get_element_dos().items():
            np.testing.assert_allclose(rec.elements[el.symbol]["up"], edos.densities[Spin.up], atol=1e-6)
    assert recs["LFP/relax"].meta["is_hubbard"] is True and recs["Si_run"].meta["is_hubbard"] is False
