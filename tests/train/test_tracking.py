"""MLflow tracking in a temporary sqlite store: params, per-epoch metrics, artifacts, tags; no secrets."""

import json

from mlflow import MlflowClient

from dosforge.train.tracking import Tracker, flatten


def test_run_has_params_metrics_artifact_tags(tmp_path, mlflow_store):
    uri, artifacts = mlflow_store
    tracker = Tracker(uri=uri, experiment="t", artifact_location=str(artifacts / "t"))
    run_id = tracker.start("primary", tags={"dvc_stage": "train", "variant": "primary", "git_commit": "abc"})
    tracker.log_params({"model": {"coupling": "cross", "tasks": ["dos", "epdos"]}, "seed": 42})
    for epoch in (1, 2):
        tracker.log_metrics({"train_loss": 1.0 / epoch, "val_loss": float("nan")}, step=epoch)
    art = tmp_path / "history.json"
    art.write_text(json.dumps([{"epoch": 1}]))
    tracker.log_artifact(art)
    tracker.end()

    run = MlflowClient(uri).get_run(run_id)
    assert run.data.params["model.coupling"] == "cross" and run.data.params["seed"] == "42"
    assert run.data.tags["dvc_stage"] == "train" and run.data.tags["git_commit"] == "abc"
    assert run.info.status == "FINISHED"
    steps = [m.step for m in MlflowClient(uri).get_metric_history(run_id, "train_loss")]
    assert steps == [1, 2]
    assert "val_loss" not in run.data.metrics  # NaN values are not logged
    assert [a.path for a in MlflowClient(uri).list_artifacts(run_id)] == ["history.json"]
    assert tracker.info() == {"run_id": run_id, "experiment_id": tracker.experiment_id, "tracking_uri": uri}


def test_resumed_training_reopens_its_run(mlflow_store):
    uri, artifacts = mlflow_store
    first = Tracker(uri=uri, experiment="t2", artifact_location=str(artifacts / "t2"))
    run_id = first.start("m", tags={})
    first.end("KILLED")
    again = Tracker(uri=uri, experiment="t2")
    assert again.start("m", tags={}, run_id=run_id) == run_id
    assert again.start("m", tags={}, run_id="does-not-exist") != run_id


def test_credentials_are_never_flattened_into_params():
    flat = flatten({"data": {"source": "mp", "mp_api_key": "SECRET", "token": "x"}})
    assert flat == {"data.source": "mp"}
