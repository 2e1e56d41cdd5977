"""Reading CIF, POSCAR/CONTCAR and Structure JSON files, folders, globs and MP ids (through a fake client)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from pymatgen.io.cif import CifWriter

from dosforge.predict.inputs import read_structure_file, resolve_inputs


def _same(a, b) -> bool:
    return a.composition == b.composition and np.allclose(a.lattice.abc, b.lattice.abc, atol=1e-4)


@pytest.fixture
def structure_folder(tmp_path, silicon, rocksalt, gan):
    folder = tmp_path / "structures"
    folder.mkdir()
    CifWriter(silicon).write_file(folder / "Si.cif")
    rocksalt.to(filename=str(folder / "POSCAR"))
    gan.to(filename=str(folder / "GaN_CONTCAR"))
    (folder / "Si.json").write_text(json.dumps(silicon.as_dict()))
    with gzip.open(folder / "NaCl.json.gz", "wt") as fh:
        fh.write(json.dumps(rocksalt.as_dict()))
    (folder / "broken.cif").write_text("data_broken\n_cell_length_a 5.0\nthis is not a CIF loop\n")
    (folder / "empty.vasp").write_text("")
    (folder / "notes.txt").write_text("not a structure")
    (folder / ".hidden.cif").write_text("ignored")
    (folder / "sub").mkdir()
    return folder


def test_each_format_reads_the_structure(structure_folder, silicon, rocksalt, gan):
    [cif] = read_structure_file(structure_folder / "Si.cif")
    [poscar] = read_structure_file(structure_folder / "POSCAR")
    [contcar] = read_structure_file(structure_folder / "GaN_CONTCAR")
    [js] = read_structure_file(structure_folder / "Si.json")
    [jsgz] = read_structure_file(structure_folder / "NaCl.json.gz")
    assert _same(cif.structure, silicon) and cif.id == "Si"
    assert _same(poscar.structure, rocksalt) and _same(contcar.structure, gan)
    assert _same(js.structure, silicon) and _same(jsgz.structure, rocksalt) and jsgz.id == "NaCl"


def test_folder_reads_good_files_and_reports_broken_ones(structure_folder):
    inputs, skipped = resolve_inputs([structure_folder])
    by_id = {i.id: i for i in inputs}
    assert sorted(by_id) == ["GaN_CONTCAR", "NaCl", "POSCAR", "Si", "Si#2", "broken", "empty"]
    assert by_id["broken"].structure is None and "unreadable structure file" in by_id["broken"].error
    assert by_id["empty"].structure is None and "unreadable" in by_id["empty"].error
    assert all(by_id[k].ok for k in ("GaN_CONTCAR", "NaCl", "POSCAR", "Si", "Si#2"))
    assert [s["path"].rsplit("/", 1)[-1] for s in skipped] == ["notes.txt", "sub"]  # reported, not failures
    assert "not a structure file" in skipped[0]["reason"] and "sub-folder not searched" in skipped[1]["reason"]


def test_glob_and_missing_paths(structure_folder):
    inputs, _ = resolve_inputs([str(structure_folder / "*.cif"), str(structure_folder / "nothing*.cif"), "nope.cif"])
    assert [i.id for i in inputs] == ["Si", "broken", str(structure_folder / "nothing*.cif"), "nope.cif"]
    assert "glob matched no files" in inputs[2].error
    assert "no such file or folder" in inputs[3].error


def test_recursive_glob_and_repeated_paths_read_each_file_once(tmp_path, silicon, gan):
    (tmp_path / "a" / "b").mkdir(parents=True)
    CifWriter(silicon).write_file(tmp_path / "a" / "Si.cif")
    gan.to(filename=str(tmp_path / "a" / "b" / "GaN_POSCAR"))
    (tmp_path / "a" / "b" / "README").write_text("notes")
    specs = [str(tmp_path / "a" / "**" / "*"), tmp_path / "a" / "Si.cif", tmp_path / "a"]
    inputs, skipped = resolve_inputs(specs)
    assert sorted(i.id for i in inputs) == ["GaN_POSCAR", "Si"] and all(i.ok for i in inputs)
    assert sorted(s["path"].rsplit("/", 1)[-1] for s in skipped) == ["README", "b"]


def test_multi_structure_cif_gives_one_input_per_block(tmp_path, silicon, rocksalt):
    text = str(CifWriter(silicon)) + "\n" + str(CifWriter(rocksalt)).replace("data_NaCl", "data_second")
    (tmp_path / "two.cif").write_text(text)
    inputs = read_structure_file(tmp_path / "two.cif")
    assert [i.id for i in inputs] == ["two:0", "two:1"]
    assert {i.structure.composition.reduced_formula for i in inputs} == {"Si", "NaCl"}


def test_mp_ids_go_through_the_injected_client_lazily(fake_mp, silicon, tmp_path):
    factory, client = fake_mp
    resolve_inputs([tmp_path], mp_client_factory=factory)  # no MP id: the client is never built
    assert factory.calls == []
    inputs, _ = resolve_inputs(["mp-149", "mp-999999999", "mp-22862"], mp_client_factory=factory)
    assert factory.calls == [1] and client.requested == ["mp-149", "mp-999999999", "mp-22862"] and client.closed
    assert [i.id for i in inputs] == ["mp-149", "mp-999999999", "mp-22862"]
    assert _same(inputs[0].structure, silicon) and inputs[0].source == "mp:mp-149"
    assert "Materials Project lookup failed for mp-999999999" in inputs[1].error and inputs[2].ok


def test_mp_ids_without_a_key_fail_alone(monkeypatch, structure_folder):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    inputs, _ = resolve_inputs(["mp-149", structure_folder / "Si.cif"])  # default factory: needs MP_API_KEY
    assert "MP_API_KEY is not set" in inputs[0].error
    assert inputs[1].ok


def test_an_mp_error_never_carries_the_api_key(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "secret-key-123")

    class Leaky:
        def get_structure_by_material_id(self, material_id):
            raise RuntimeError(f"401 for https://api.materialsproject.org/?key=secret-key-123&id={material_id}")

    [inp], _ = resolve_inputs(["mp-1"], mp_client_factory=Leaky)
    assert "401" in inp.error and "secret-key-123" not in inp.error and "<MP_API_KEY>" in inp.error
