"""`python stages/evaluate.py` on a tiny project: processed data on disk, two model directories."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from dosforge.io import write_json
from dosforge.shards import write_shard

STAGE = Path(__file__).resolve().parents[2] / "stages" / "evaluate.py"


def _stage():
    spec = importlib.util.spec_from_file_location("evaluate_stage", STAGE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _processed(path: Path, pred) -> None:
    """Write the ground truth of `pred` as processed shards (structure fields are placeholders)."""
    materials = []
    for i, mid in enumerate(pred.ids):
        lo, hi = pred.epdos_ptr[i], pred.epdos_ptr[i + 1]
        materials.append(
            {
                "id": mid, "formula": pred.formula[i], "point_group": "m-3m", "source": "embedded",
                "gap_origin": "tb", "synthetic": True, "is_metal": bool(pred.is_metal[i]),
                "efermi": float(pred.fermi_true[i]), "gap": float(pred.gap_true[i]), "epdos_residual": 0.0,
                "dos": pred.dos_true[i], "lattice": np.eye(3) * 4.0, "epdos": pred.epdos_true[lo:hi],
                "epdos_z": pred.epdos_z[lo:hi], "atomic_numbers": pred.epdos_z[lo:hi],
                "cart_coords": np.zeros((hi - lo, 3)), "graph": {"edge_index": np.zeros((2, 1), np.int64)},
            }
        )  # fmt: skip
    sha = write_shard(path / "shard-00000.h5", materials)
    shards = [{"file": "shard-00000.h5", "sha256": sha, "n": len(materials)}]
    grid = {"emin": -10.0, "emax": 10.0, "bins": 256}
    manifest = {"ids": pred.ids, "source": "embedded", "synthetic": True, "grid": grid, "shards": shards}
    write_json(path / "manifest.json", manifest)


@pytest.fixture(scope="module")
def project(tmp_path_factory, predictions_factory, history_factory):
    root = tmp_path_factory.mktemp("project")
    params = {
        "grid": {"emin": -10.0, "emax": 10.0, "bins": 256},
        "loss": {"gap_k": 10},
        "ablations": {"single_gap": {"tasks": ["gap"]}},
        "evaluate": {"percentile_step": 50, "panel_columns": 2, "dpi": 30, "mlflow": True},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    full = predictions_factory(n=6, seed=7)
    _processed(root / "data" / "processed", full)
    for name, pred in (("primary", full), ("ablations/single_gap", predictions_factory(("gap",), n=6, seed=7))):
        pred.save(root / "models" / name / "test_predictions.h5")
        write_json(root / "models" / name / "history.json", history_factory(3))
    return root


def _run(root: Path, *extra: str) -> int:
    args = ["--params", str(root / "params.yaml"), "--processed", str(root / "data" / "processed")]
    args += ["--models", str(root / "models"), "--metrics", str(root / "metrics"), "--plots", str(root / "plots")]
    return _stage().main(args + ["--report", str(root / "reports" / "evaluation.md"), *extra])


def test_stage_writes_metrics_report_and_plots(project, capsys, caplog):
    assert _run(project) == 0
    assert {p.name for p in (project / "metrics").iterdir()} == {
        "primary.json",
        "single_gap.json",
        "gap_validation.json",
    }
    gv = json.loads((project / "metrics" / "gap_validation.json").read_text())
    assert gv["n"] == 6 and gv["threshold_scan.mae_ev"] == pytest.approx(0.0, abs=1e-6)  # edges sit on bin edges
    report = (project / "reports" / "evaluation.md").read_text()
    assert "SYNTHETIC" in report
    spectra = sorted(p.name for p in (project / "plots" / "spectra").iterdir())
    assert spectra == ["primary.png"]
    assert "SYNTHETIC labels" in capsys.readouterr().out
    assert "not logged to MLflow" in caplog.text  # no mlflow_run.json in these model directories: warned, skipped


def test_unknown_evaluate_key_is_a_clear_error(project, capsys):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluate"]["percentiles"] = 5
    bad = project / "bad.yaml"
    bad.write_text(yaml.safe_dump(params))
    args = [
        "--params",
        str(bad),
        "--processed",
        str(project / "data" / "processed"),
        "--models",
        str(project / "models"),
    ]
    assert _stage().main(args + ["--metrics", str(project / "m2"), "--report", str(project / "r2.md")]) == 2
    assert "percentile_step" in capsys.readouterr().err
