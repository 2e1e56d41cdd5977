"""`dosforge predict`: same numbers as Python, broken files among good ones, MP ids, documented exit codes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from dosforge.cli import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, main
from dosforge.io import read_json
from dosforge.predict.output import results_from_json


def _predict_fixtures():
    """The predict tests' conftest (tiny checkpoint writer, structures, fake MP client), loaded by path."""
    path = Path(__file__).parent / "predict" / "conftest.py"
    spec = importlib.util.spec_from_file_location("dosforge_predict_test_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _predict_fixtures()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return fx.write_tiny_checkpoint(tmp_path_factory.mktemp("cli_ckpt") / "best.pt")


@pytest.fixture(scope="module")
def cif_folder(tmp_path_factory):
    """Three good CIFs/POSCARs the model never saw in any test, plus a broken file and a noble-gas structure."""
    folder = tmp_path_factory.mktemp("cifs")
    CifWriter(fx._gan()).write_file(folder / "GaN.cif")
    CifWriter(fx._rocksalt().to_conventional()).write_file(folder / "NaCl_conventional.cif")
    fx._copper().to(filename=str(folder / "Cu_POSCAR"))
    return folder


@pytest.fixture(scope="module")
def broken_folder(tmp_path_factory, cif_folder):
    folder = tmp_path_factory.mktemp("mixed")
    for p in cif_folder.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "truncated.cif").write_text((cif_folder / "GaN.cif").read_text()[:200])
    (folder / "garbage_POSCAR").write_text("not\na\nposcar\n")
    from pymatgen.core import Lattice

    Structure(Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]]).to(filename=str(folder / "argon.cif"))
    return folder


def _run(*args: str, factory=None) -> int:
    return main(["predict", *map(str, args), "--device", "cpu", "--quiet"], mp_client_factory=factory)


def test_command_line_and_python_give_the_same_numbers(tmp_path, checkpoint, cif_folder):
    import dosforge

    assert _run(cif_folder, "--checkpoint", checkpoint, "--out", tmp_path) == EXIT_OK
    cli = {r["id"]: r for r in results_from_json(tmp_path / "predictions.json")}
    model = dosforge.load_model(checkpoint)
    names = sorted(cli)
    structures = [Structure.from_file(cif_folder / (n if n.endswith("POSCAR") else f"{n}.cif")) for n in names]
    for name, r in zip(names, model.predict(structures, ids=names), strict=True):
        c = cli[name]
        np.testing.assert_allclose(c["dos"], r.dos, rtol=1e-6, atol=1e-7)  # batch composition differs: float32 rounding
        np.testing.assert_allclose(c["energies_absolute_ev"], r.energies_absolute, rtol=1e-6, atol=1e-6)
        assert sorted(c["epdos"]) == sorted(r.epdos)
        for el in r.epdos:
            np.testing.assert_allclose(c["epdos"][el], r.epdos[el], rtol=1e-6, atol=1e-7)
        for key, attr in (("efermi_ev", "efermi"), ("gap_ev", "gap"), ("gap_ext_ev", "gap_ext")):
            assert c[key] == pytest.approx(getattr(r, attr), abs=1e-6)
        assert c["n_sites"] == len(r.structure)


def test_folder_with_broken_files_predicts_the_good_ones_and_exits_1(tmp_path, checkpoint, broken_folder, capsys):
    code = main(["predict", str(broken_folder), "-c", str(checkpoint), "-o", str(tmp_path), "--device", "cpu"])
    assert code == EXIT_SOME_FAILED
    rows = {r["id"]: r for r in read_json(tmp_path / "predictions.json")["structures"]}
    ok = {k for k, r in rows.items() if r["status"] == "ok"}
    assert ok == {"GaN", "NaCl_conventional", "Cu_POSCAR"}
    assert "unreadable" in rows["truncated"]["error"] and "unreadable" in rows["garbage_POSCAR"]["error"]
    assert "noble gas" in rows["argon"]["error"]
    captured = capsys.readouterr()
    assert "FAILED truncated" in captured.err and "FAILED argon" in captured.err
    assert "predicted 3/6 structures" in captured.out and "SYNTHETIC" in captured.out
    assert (tmp_path / "predictions.csv").read_text().count("\n") == 1 + 6


def test_plots_and_mp_ids_through_a_fake_client(tmp_path, checkpoint, cif_folder):
    factory = fx.FakeMPRester({"mp-149": fx._silicon()})
    code = _run("mp-149", cif_folder / "GaN.cif", "-c", checkpoint, "-o", tmp_path, "--plots", factory=lambda: factory)
    assert code == EXIT_OK and factory.requested == ["mp-149"]
    rows = read_json(tmp_path / "predictions.json")["structures"]
    assert [(r["id"], r["source"]) for r in rows] == [("mp-149", "mp:mp-149"), ("GaN", str(cif_folder / "GaN.cif"))]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["GaN.png", "mp-149.png"]


def test_usage_and_checkpoint_errors_exit_2_and_write_nothing(tmp_path, checkpoint, cif_folder, capsys):
    out = tmp_path / "out"
    assert _run(cif_folder, "-c", tmp_path / "missing.pt", "-o", out) == EXIT_USAGE
    assert "checkpoint not found" in capsys.readouterr().err
    assert _run(cif_folder, "-c", checkpoint, "-o", out, "--batch-size", "0") == EXIT_USAGE
    assert main(["predict"]) == EXIT_USAGE  # no inputs: argparse usage error
    assert not out.exists()


def test_installed_console_script_returns_the_exit_code_to_the_shell(tmp_path, cif_folder):
    """The `dosforge` entry point (pyproject [project.scripts]) hands main()'s code to the shell."""
    script = Path(sys.executable).parent / "dosforge"
    assert script.exists(), "the package is not installed: run scripts/setup.sh (pip install -e .)"
    env = dict(os.environ, DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true")
    args = [str(script), "predict", str(cif_folder), "-c", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "o")]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == EXIT_USAGE and "checkpoint not found" in proc.stderr
    assert not (tmp_path / "o").exists()
