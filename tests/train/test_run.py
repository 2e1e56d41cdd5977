"""Training end to end on the tiny data set: outputs, resume after a kill, determinism, MLflow, load_model."""

import copy

import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from train_testkit import PARAMS

from dosforge.config import ConfigError
from dosforge.io import read_json
from dosforge.predictions import Predictions
from dosforge.train import load_model, predict_split
from dosforge.train.checkpoint import load_last
from dosforge.train.run import run_training
from dosforge.train.tracking import Tracker


class Killed(KeyboardInterrupt):
    """Stands in for SIGKILL right after an epoch's checkpoint was written."""


def _train(tiny_dirs, out, params=PARAMS, **kw):
    processed, split = tiny_dirs
    return run_training(params, processed_dir=processed, split_dir=split, out_dir=out, progress=False, **kw)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model_state"]


@pytest.fixture(scope="module")
def uninterrupted(tiny_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return out, _train(tiny_dirs, out)


def test_model_directory(uninterrupted, tiny_dirs):
    out, summary = uninterrupted
    for name in ("best.pt", "last.pt", "history.json", "summary.json", "test_predictions.h5"):
        assert (out / name).is_file(), name
    history = read_json(out / "history.json")
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"]) for h in history)
    assert summary["selection_rule"] == "loss_sum" and summary["best_score"] == min(h["score"] for h in history)
    preds = Predictions.load(out / "test_predictions.h5")
    split = read_json(tiny_dirs[1] / "split.json")
    assert preds.ids == split["test"] and np.isfinite(preds.dos_pred).all() and np.isfinite(preds.gap_pred).all()
    assert preds.epdos_pred.shape == preds.epdos_true.shape and np.isfinite(preds.epdos_pred).all()
    assert Predictions.load_attrs(out / "test_predictions.h5")["synthetic"]


def test_load_model_reproduces_test_predictions(uninterrupted, tiny_dirs):
    from dosforge.shards import load_processed

    out, _ = uninterrupted
    model, normalizer, meta = load_model(out / "best.pt")
    assert not model.training and meta["synthetic"] and meta["grid"]["bins"] == 256
    assert meta["elements"] and meta["tasks"] == ["dos", "epdos", "fermi", "gap"]
    assert meta["graph_params"] == {"cutoff": 4.0, "max_neighbors": 12} and meta["source"] == "embedded"
    split = read_json(tiny_dirs[1] / "split.json")
    again = predict_split(out, load_processed(tiny_dirs[0]), split["test"])
    saved = Predictions.load(out / "test_predictions.h5")
    np.testing.assert_allclose(again.dos_pred, saved.dos_pred, atol=1e-5)
    np.testing.assert_allclose(again.fermi_pred, saved.fermi_pred, atol=1e-5)


def test_resume_after_kill_ends_with_the_same_weights(uninterrupted, tiny_dirs, tmp_path):
    full, _ = uninterrupted

    def kill_after_first_epoch(epoch, record):
        if epoch == 0:
            raise Killed

    with pytest.raises(Killed):
        _train(tiny_dirs, tmp_path, on_epoch_end=kill_after_first_epoch)
    assert load_last(tmp_path / "last.pt")["epoch"] == 0
    summary = _train(tiny_dirs, tmp_path)
    assert summary["resumed_after_epoch"] == 1
    for name in ("last.pt", "best.pt"):
        a, b = _weights(full / name), _weights(tmp_path / name)
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=f"{name}:{k}")
    assert read_json(full / "history.json")[-1]["train_loss"] == read_json(tmp_path / "history.json")[-1]["train_loss"]


def test_changed_params_start_afresh_and_seed_matters(uninterrupted, tiny_dirs, tmp_path):
    full, _ = uninterrupted
    _train(tiny_dirs, tmp_path)
    params = copy.deepcopy(PARAMS)
    params["seed"] = 4
    summary = _train(tiny_dirs, tmp_path, params=params)
    assert summary["resumed_after_epoch"] is None  # the old last.pt belongs to another configuration
    a, b = _weights(full / "last.pt"), _weights(tmp_path / "last.pt")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_ablation_variant_and_mlflow_run(tiny_dirs, tmp_path, mlflow_store):
    uri, artifacts = mlflow_store
    tracker = Tracker(uri=uri, experiment="run", artifact_location=str(artifacts / "run"))
    params = copy.deepcopy(PARAMS)
    params["train"]["epochs"] = 1
    with pytest.warns(UserWarning, match="OneCycle"):  # 1 epoch of 2 steps is shorter than the warm-up
        summary = _train(tiny_dirs, tmp_path / "cross2", params=params, variant="cross2", tracker=tracker)
    assert summary["tasks"] == ["dos", "epdos"] and summary["selection_rule"] == "wd_sum"
    info = read_json(tmp_path / "cross2" / "mlflow_run.json")
    assert info["tracking_uri"] == uri
    client = MlflowClient(uri)
    run = client.get_run(info["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dvc_stage"] == "ablate@cross2" and run.data.tags["variant"] == "cross2"
    assert run.data.tags["synthetic_labels"] == "true" and run.data.tags["git_commit"]
    assert run.data.params["model.coupling"] == "cross" and run.data.params["train.epochs"] == "1"
    assert {"train_loss", "val_loss", "val_wd_dos", "val_wd_epdos", "lr"} <= set(run.data.metrics)
    assert "best.pt" in {a.path for a in client.list_artifacts(info["run_id"])}
    preds = Predictions.load(tmp_path / "cross2" / "test_predictions.h5")
    assert np.isnan(preds.fermi_pred).all() and np.isnan(preds.gap_pred).all()  # not tasks of this variant


def test_unknown_variant_lists_the_valid_ones(tiny_dirs, tmp_path):
    with pytest.raises(ConfigError, match="cross2"):
        _train(tiny_dirs, tmp_path, variant="cross3")
