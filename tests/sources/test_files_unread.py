"""The `files` source on a folder as users name it: every DOS file read, every other file listed with its reason."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
from pathlib import Path

import pytest
import yaml
from mp_fake import load_json
from pymatgen.electronic_structure.dos import CompleteDos
from vasprun_writer import write_vasprun

from dosforge.records import iter_record_paths, read_record
from dosforge.sources.files import DEFAULT_PATTERNS, fetch_files

NON_DOS = Path(__file__).resolve().parents[1] / "data" / "non_dos"


def _vasprun(path: Path, dos: CompleteDos) -> None:
    """A vasprun.xml around a real MP DOS, compressed as the suffix says."""
    cbm, vbm = dos.get_cbm_vbm()
    plain = write_vasprun(path.parent / "plain.xml", dos, vbm, cbm).read_bytes()
    (path.parent / "plain.xml").unlink()
    compress = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}.get(path.suffix, lambda b: b)
    path.write_bytes(compress(plain))


@pytest.fixture(scope="module")
def user_folder(fixtures_dir, tmp_path_factory) -> Path:
    """Real MP DOS under the names VASP users give them, plus stray files."""
    root = tmp_path_factory.mktemp("user")
    (root / "run1").mkdir()
    (root / "WO2").mkdir()
    (root / "notes").mkdir()
    si, wo2 = (CompleteDos.from_dict(e["data"]) for e in reversed(load_json(fixtures_dir / "es_dos_objs.json.gz")))
    gan = CompleteDos.from_dict(load_json(fixtures_dir / "GaN_dos.json.gz"))
    _vasprun(root / "mp-1686587_vasprun.xml.gz", si)
    _vasprun(root / "run1" / "vasprun.xml.bz2", gan)
    _vasprun(root / "vasprun_relax.xml", si)
    _vasprun(root / "WO2" / "vasprun.xml.xz", wo2)
    shutil.copy(fixtures_dir / "Fe_dos.json.gz", root)  # spin-polarised CompleteDos JSON
    (root / "GaN_dos.json").write_bytes(gzip.decompress((fixtures_dir / "GaN_dos.json.gz").read_bytes()))
    # strays: a real JSON that is not a DOS, VASP's other outputs, notes, a broken JSON
    shutil.copy(NON_DOS / "Fe_structure.json.gz", root)
    (root / "run1" / "OUTCAR").write_text(" vasp.6.3.2 (build ...)\n")
    (root / "notes" / "README.md").write_text("Si and GaN runs\n")
    (root / "broken.json").write_text('{"energies": [1, 2')
    return root


@pytest.fixture(scope="module")
def fetched(user_folder, tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    report = fetch_files({"data": {"path": str(user_folder), "max_sites": 30}}, raw)
    return report, {r.id: r for r in map(read_record, iter_record_paths(raw))}


def test_default_patterns_match_what_vasp_users_name_files():
    from fnmatch import fnmatchcase

    names = ["vasprun.xml", "mp-2534_vasprun.xml.gz", "vasprun_relax.xml", "vasprun.xml.bz2", "vasprun.xml.xz"]
    names += ["GaN_dos.json", "dos.json.gz", "dos.json.xz"]
    for name in names:
        assert any(fnmatchcase(name, p) for p in DEFAULT_PATTERNS), name
    for name in ["OUTCAR", "README.md", "vasprun.xml.bak", "CHGCAR.gz"]:
        assert not any(fnmatchcase(name, p) for p in DEFAULT_PATTERNS), name


def test_differently_named_real_dos_files_are_all_read(fetched):
    report, recs = fetched
    assert sorted(recs) == ["Fe_dos", "GaN_dos", "WO2", "mp-1686587_vasprun", "run1", "vasprun_relax"]
    assert recs["run1"].meta["file"] == "run1/vasprun.xml.bz2" and recs["run1"].gap_origin == "dft"
    assert set(recs["Fe_dos"].total) == {"up", "down"} and set(recs["GaN_dos"].total) == {"up"}
    assert set(recs["WO2"].total) == {"up", "down"} and set(recs["WO2"].elements) == {"W", "O"}
    assert recs["mp-1686587_vasprun"].elements.keys() == {"Si"}


def test_every_file_not_read_is_listed_with_its_reason(fetched):
    report, _ = fetched
    unread = {u["file"]: u["reason"] for u in report["unread_files"]}
    assert unread == {
        "Fe_structure.json.gz": "not a DOS",
        "broken.json": "unparseable",
        "notes/README.md": "matched no pattern",
        "run1/OUTCAR": "matched no pattern",
    }
    assert report["unread_counts"] == {"matched no pattern": 2, "not a DOS": 1, "unparseable": 1}
    assert report["n_unread_files"] == 4
    # the two that were opened and failed are also skipped items (they reach rejects.csv)
    assert {s["id"]: s["reason"] for s in report["skipped"]} == {"Fe_structure": "not a DOS", "broken": "unparseable"}


def test_subfolders_listed_when_not_recursive(user_folder, tmp_path):
    report = fetch_files({"data": {"path": str(user_folder), "max_sites": 30}, "files": {"recursive": False}}, tmp_path)
    unread = {u["file"]: u["reason"] for u in report["unread_files"]}
    assert unread["run1/vasprun.xml.bz2"] == unread["WO2/vasprun.xml.xz"] == "in a subfolder (files.recursive: false)"
    assert report["n_written"] == 4  # Fe_dos, GaN_dos, mp-1686587_vasprun, vasprun_relax


def test_fetch_prints_every_unread_file_and_its_reason(user_folder, tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "fetch_stage", Path(__file__).resolve().parents[2] / "stages/fetch.py"
    )
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"data": {"source": "files", "path": str(user_folder), "max_sites": 30}}))
    raw = user_folder / "raw"  # inside data.path: its own files are one listed entry, never read back
    try:
        assert stage.main(["--params", str(params), "--out", str(raw)]) == 0
        assert stage.main(["--params", str(params), "--out", str(raw)]) == 0
    finally:
        out = capsys.readouterr().out.split("fetch [files]")[-1]
        shutil.rmtree(raw, ignore_errors=True)
    assert ": 6 records, 2 skipped, 5 files under data.path not read" in out
    for line in (
        "not read      2  matched no pattern",
        "Fe_structure.json.gz: not a DOS",
        "broken.json: unparseable",
        "notes/README.md: matched no pattern",
        "run1/OUTCAR: matched no pattern",
        "raw/: fetch output folder (1 files written by fetch itself",  # the previous run's fetch_report.json
    ):
        assert line in out, line
