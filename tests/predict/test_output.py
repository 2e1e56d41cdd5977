"""The run's files: JSON with everything per structure and the checkpoint's provenance, CSV scalars, PNG plots."""

from __future__ import annotations

import csv
import hashlib

import numpy as np
import pytest

from dosforge.io import read_json
from dosforge.predict import StructureInput
from dosforge.predict.output import results_from_json, write_run


@pytest.fixture(scope="module")
def outcomes(predictor, gan, silicon, bad_structures):
    inputs = [
        StructureInput("GaN", "gan.cif", structure=gan),
        StructureInput("argon", "ar.cif", structure=bad_structures["noble"]),
        StructureInput("Si", "POSCAR", structure=silicon),
    ]
    return predictor.run(inputs, progress=False)


def test_json_holds_every_structure_and_the_checkpoint_provenance(tmp_path, predictor, outcomes, checkpoint):
    paths = write_run(tmp_path / "out", outcomes, predictor.info, skipped=[{"path": "x.txt", "reason": "r"}])
    payload = read_json(paths["json"])
    meta = payload["metadata"]
    assert meta["checkpoint"] == str(checkpoint)
    assert meta["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert meta["training_data_source"] == "embedded" and meta["synthetic_labels"] is True
    assert "SYNTHETIC" in meta["labels_note"]
    assert meta["counts"] == {"inputs": 3, "predicted": 2, "failed": 1, "skipped": 1}
    assert meta["grid"]["bins"] == 256 and "Ga" in meta["elements_seen_in_training"]
    rows = payload["structures"]
    assert [r["id"] for r in rows] == ["GaN", "argon", "Si"]
    assert rows[1]["status"] == "failed" and "noble gas" in rows[1]["error"]
    gan = rows[0]
    assert gan["status"] == "ok" and gan["source"] == "gan.cif" and set(gan["epdos"]) == {"Ga", "N"}
    assert len(gan["energies_ev"]) == len(gan["energies_absolute_ev"]) == len(gan["dos"]) == 256
    # full float precision: the JSON numbers are the Python numbers
    [back] = [r for r in results_from_json(paths["json"]) if r["id"] == "GaN"]
    np.testing.assert_array_equal(back["dos"], outcomes[0].dos)
    np.testing.assert_array_equal(back["epdos"]["Ga"], outcomes[0].epdos["Ga"])
    assert back["efermi_ev"] == outcomes[0].efermi and back["gap_ext_ev"] == outcomes[0].gap_ext
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes leave no temporaries


def test_csv_has_one_row_per_input_with_status(tmp_path, predictor, outcomes):
    paths = write_run(tmp_path / "out", outcomes, predictor.info)
    with open(paths["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["id"], r["status"]) for r in rows] == [("GaN", "ok"), ("argon", "failed"), ("Si", "ok")]
    assert float(rows[0]["efermi_ev"]) == pytest.approx(outcomes[0].efermi)
    assert float(rows[2]["gap_ext_ev"]) == pytest.approx(outcomes[2].gap_ext)
    assert rows[1]["efermi_ev"] == "" and "noble gas" in rows[1]["error"]


def test_plots_are_png_files_per_predicted_structure(tmp_path, predictor, outcomes):
    paths = write_run(tmp_path / "out", outcomes, predictor.info, plots=True)
    plots = sorted(p.name for p in (tmp_path / "out" / "plots").iterdir())
    assert plots == ["GaN.png", "Si.png"] and paths["plot:GaN"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
