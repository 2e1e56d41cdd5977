"""Test metrics land on the model's own MLflow run; a missing run file is a warning, not a failure."""

import logging
import math

import pytest
from mlflow import MlflowClient

from dosforge.evaluate.tracking import log_test_metrics
from dosforge.io import write_json


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite store for the module (creating one costs seconds): (uri, client, experiment id)."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    return uri, client, client.create_experiment("dosforge", artifact_location=str(root / "artifacts"))


def test_metrics_and_artifacts_logged_onto_the_training_run(tmp_path, store):
    uri, client, exp = store
    run_id = client.create_run(exp, run_name="primary").info.run_id
    client.set_terminated(run_id)  # training has finished its run before evaluation
    write_json(tmp_path / "mlflow_run.json", {"run_id": run_id, "experiment_id": exp, "tracking_uri": uri})
    png = tmp_path / "parity.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")

    metrics = {"dos.wd_bins": 3.5, "fermi.mae_ev": None, "gap.mae_ev": math.nan, "n_test": 12}
    assert log_test_metrics(tmp_path / "mlflow_run.json", metrics, [png])
    logged = client.get_run(run_id).data.metrics
    assert logged == {"test.dos.wd_bins": 3.5, "test.n_test": 12.0}  # null/NaN (absent tasks) are not logged
    assert [a.path for a in client.list_artifacts(run_id, "evaluation")] == ["evaluation/parity.png"]


def test_missing_run_file_warns_and_skips(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="dosforge.evaluate.tracking"):
        assert not log_test_metrics(tmp_path / "mlflow_run.json", {"dos.wd_bins": 1.0})
    assert "not logged to MLflow" in caplog.text


def test_unknown_run_warns_and_skips(tmp_path, caplog, store):
    uri = store[0]
    write_json(tmp_path / "run.json", {"run_id": "0" * 32, "experiment_id": "0", "tracking_uri": uri})
    with caplog.at_level(logging.WARNING, logger="dosforge.evaluate.tracking"):
        assert not log_test_metrics(tmp_path / "run.json", {"dos.wd_bins": 1.0})
    assert "not usable" in caplog.text
