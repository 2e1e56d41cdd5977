"""`model.init: pretrained`: the encoder starts from models/pretrain/encoder.pt; its hash is recorded everywhere."""

import copy

import pytest
import torch
from mlflow import MlflowClient
from train_testkit import PARAMS

from dosforge.config import ConfigError
from dosforge.io import read_json
from dosforge.model import DOSForge
from dosforge.model.pretrained import save_pretrained_encoder
from dosforge.train.checkpoint import load_checkpoint
from dosforge.train.run import build_model_config, run_training
from dosforge.train.tracking import Tracker

GRAPH = {"cutoff": 4.0, "max_neighbors": 12}  # the tiny data's graph parameters (conftest)
PRETRAINED = dict(PARAMS, model=dict(PARAMS["model"], init="pretrained"))


def _train(tiny_dirs, out, params, pretrain_dir=None, **kw):
    processed, split = tiny_dirs
    kw.update(pretrain_dir=pretrain_dir) if pretrain_dir else None
    return run_training(params, processed_dir=processed, split_dir=split, out_dir=out, progress=False, **kw)


def _encoder_file(folder, seed, graph=GRAPH):
    """An encoder.pt holding the encoder that `torch.manual_seed(seed); DOSForge(config)` builds."""
    config = build_model_config(PARAMS, PARAMS["model"])
    torch.manual_seed(seed)
    model = DOSForge(config)
    return save_pretrained_encoder(
        folder / "encoder.pt", model.encoder, model_config=config, graph_params=graph, info={}
    )


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model_state"]


@pytest.fixture(scope="module")
def scratch(tiny_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("scratch")
    return out, _train(tiny_dirs, out, PARAMS)


def test_scratch_records_its_init(scratch):
    out, summary = scratch
    assert summary["init"] == "scratch" and summary["pretrained_encoder_sha256"] is None
    meta = load_checkpoint(out)
    assert meta["init"] == "scratch" and meta["pretrained_encoder"] is None


def test_seed_encoder_reproduces_scratch_and_hash_is_recorded(scratch, tiny_dirs, tmp_path, mlflow_store):
    """Loading the very weights the seed gives must change nothing: the load happens after the seeded build
    and draws no random numbers, so every later step (heads, data order, dropout) is as from scratch."""
    sha = _encoder_file(tmp_path, seed=PARAMS["seed"])
    uri, artifacts = mlflow_store
    tracker = Tracker(uri=uri, experiment="init", artifact_location=str(artifacts / "init"))
    summary = _train(tiny_dirs, tmp_path / "model", PRETRAINED, pretrain_dir=tmp_path, tracker=tracker)
    a, b = _weights(scratch[0] / "last.pt"), _weights(tmp_path / "model" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert summary["init"] == "pretrained" and summary["pretrained_encoder_sha256"] == sha
    assert read_json(tmp_path / "model" / "summary.json")["pretrained_encoder_sha256"] == sha
    meta = load_checkpoint(tmp_path / "model")
    assert meta["init"] == "pretrained" and meta["pretrained_encoder"]["sha256"] == sha
    run = MlflowClient(uri).get_run(read_json(tmp_path / "model" / "mlflow_run.json")["run_id"])
    assert run.data.params["init"] == "pretrained" and run.data.params["pretrained_encoder_sha256"] == sha


def test_other_encoder_changes_the_start(scratch, tiny_dirs, tmp_path):
    _encoder_file(tmp_path, seed=99)
    params = copy.deepcopy(PRETRAINED)
    params["train"]["epochs"] = 1
    with pytest.warns(UserWarning, match="OneCycle"):
        _train(tiny_dirs, tmp_path / "model", params, pretrain_dir=tmp_path)
    torch.manual_seed(99)
    expected = DOSForge(build_model_config(PARAMS, PARAMS["model"])).encoder.atom_embedding.weight
    trained = _weights(tmp_path / "model" / "last.pt")["encoder.atom_embedding.weight"]
    # one epoch of 2 small steps moves the weights a little; a seed-3 start would be far away
    assert (
        (trained - expected).abs().max()
        < 0.05
        < (_weights(scratch[0] / "last.pt")["encoder.atom_embedding.weight"] - expected).abs().max()
    )


def test_mismatch_and_missing_file_stop_before_training(tiny_dirs, tmp_path):
    with pytest.raises(ConfigError, match="run the pretrain stage first"):
        _train(tiny_dirs, tmp_path / "model", PRETRAINED, pretrain_dir=tmp_path)
    _encoder_file(tmp_path, seed=1, graph={"cutoff": 4.0, "max_neighbors": 25})
    with pytest.raises(ConfigError, match="max_neighbors: file 25 vs now 12"):
        _train(tiny_dirs, tmp_path / "model", PRETRAINED, pretrain_dir=tmp_path)
    small = copy.deepcopy(PRETRAINED)
    small["model"]["encoder"] = dict(small["model"]["encoder"], d=8)
    _encoder_file(tmp_path, seed=1)
    with pytest.raises(ConfigError, match="d: file 16 vs now 8"):
        _train(tiny_dirs, tmp_path / "model", small, pretrain_dir=tmp_path)
    assert not (tmp_path / "model").exists()
