"""Pretraining end to end on a tiny corpus: outputs, resume after a kill, and pretrain -> fine-tune."""

import copy

import pytest
import torch
from mlflow import MlflowClient
from pretrain_testkit import PARAMS, small_structures, write_processed

import dosforge.pretrain.corpus as corpus_module
from dosforge.io import read_json, write_json
from dosforge.model.pretrained import ENCODER_FILE
from dosforge.pretrain.run import run_pretraining
from dosforge.train.checkpoint import load_checkpoint
from dosforge.train.run import run_training
from dosforge.train.tracking import Tracker


class Killed(KeyboardInterrupt):
    pass


@pytest.fixture()
def tiny_bundle(monkeypatch, tmp_path):
    structures = [(f"s{i}", s) for i, s in enumerate(small_structures())]
    monkeypatch.setattr(corpus_module, "bundle_structures", lambda: structures)
    write_json(tmp_path / "split" / "split.json", {"train": ["s2"], "val": ["s0"], "test": ["s1"]})
    return tmp_path / "split"


def _pretrain(split, out, **kw):
    return run_pretraining(PARAMS, split_dir=split, out_dir=out, mlflow=False, progress=False, **kw)


def _encoder(out):
    return torch.load(out / ENCODER_FILE, weights_only=True)["encoder_state"]


def test_outputs_counts_and_heldout_exclusion(tiny_bundle, tmp_path):
    summary = _pretrain(tiny_bundle, tmp_path / "pt")
    corpus = read_json(tmp_path / "pt" / "corpus.json")
    ids = {r["id"] for r in corpus["rejects"]}
    assert corpus["n_structures"] == len(small_structures()) - 2 and not ids & {"s0", "s1"}  # val/test never used
    assert corpus["excluded_labelled"] == {"rule": "heldout", "n_ids": 2, "bundle": 2}
    assert corpus["vae_skipped_below_min_sites"] == 1
    history = read_json(tmp_path / "pt" / "history.json")
    assert [(h["stage"], h["epoch"]) for h in history] == [("vae", 1), ("vae", 2), ("ldm", 1), ("ldm", 2)]
    assert all("latent_std_mean" in h and "latent_eff_rank" in h for h in history if h["stage"] == "ldm")
    assert summary["encoder_sha256"] and set(summary["baselines"]) == {
        "atom_acc_majority",
        "coords_l1_const",
        "lattice_l1_mean",
    }


def test_resume_after_kills_gives_identical_weights(tiny_bundle, tmp_path):
    _pretrain(tiny_bundle, tmp_path / "full")
    for stage in ("vae", "ldm"):  # killed after the first epoch of each stage in turn

        def kill(s, epoch, record, stage=stage):
            if s == stage and epoch == 0:
                raise Killed()

        with pytest.raises(Killed):
            _pretrain(tiny_bundle, tmp_path / "resumed", on_epoch_end=kill)
    _pretrain(tiny_bundle, tmp_path / "resumed")
    a, b = _encoder(tmp_path / "full"), _encoder(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_json(tmp_path / "full" / "history.json")[-1]["val_loss"] == pytest.approx(
        read_json(tmp_path / "resumed" / "history.json")[-1]["val_loss"], abs=0
    )


def test_pretrain_then_finetune(tiny_bundle, tmp_path, monkeypatch):
    processed, split = write_processed(tmp_path / "data", PARAMS["graph"])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri=uri, experiment="pretrain", artifact_location=str(tmp_path / "artifacts"))
    summary = run_pretraining(PARAMS, split_dir=split, out_dir=tmp_path / "pt", tracker=tracker, progress=False)
    run = MlflowClient(uri).get_run(read_json(tmp_path / "pt" / "mlflow_run.json")["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["encoder_sha256"] == summary["encoder_sha256"]
    assert run.data.tags["dvc_stage"] == "pretrain" and "ldm.latent_std_mean" in run.data.metrics

    params = copy.deepcopy(PARAMS)
    params["model"]["init"] = "pretrained"
    out = tmp_path / "model"
    result = run_training(
        params, processed_dir=processed, split_dir=split, out_dir=out, pretrain_dir=tmp_path / "pt", progress=False
    )
    assert result["init"] == "pretrained" and result["pretrained_encoder_sha256"] == summary["encoder_sha256"]
    meta = load_checkpoint(out)
    assert meta["pretrained_encoder"]["info"]["method"] == "crysldnet"
    # fine-tuned end to end: the encoder moved away from the pretrained weights
    pre = _encoder(tmp_path / "pt")
    tuned = {k[len("encoder.") :]: v for k, v in meta["model_state"].items() if k.startswith("encoder.")}
    assert tuned.keys() == pre.keys()
    assert not torch.equal(tuned["atom_embedding.weight"], pre["atom_embedding.weight"])
    assert (tuned["atom_embedding.weight"] - pre["atom_embedding.weight"]).abs().max() < 0.1
