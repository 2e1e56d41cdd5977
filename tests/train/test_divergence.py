"""A run that produces NaN/inf ends with `TrainingDiverged` naming the model and the epoch, never a bare error."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from train_testkit import PARAMS

from dosforge.model import DOSForge
from dosforge.train import TrainingDiverged
from dosforge.train.checkpoint import load_last
from dosforge.train.loop import selection_score, training_divergence, validation_divergence
from dosforge.train.run import run_training


def _train(tiny_dirs, out, variant=None):
    processed, split = tiny_dirs
    params = copy.deepcopy(PARAMS)
    return run_training(params, processed_dir=processed, split_dir=split, out_dir=out, variant=variant, progress=False)


def _nan_forward(monkeypatch, when):
    """Patch DOSForge.forward so that every output is NaN whenever `when(model)` is true."""
    original = DOSForge.forward

    def forward(self, batch):
        out = original(self, batch)
        if when(self):
            out = {k: v * math.nan for k, v in out.items()}  # keeps the autograd graph: backward runs, in NaN
        return out

    monkeypatch.setattr(DOSForge, "forward", forward)


def test_selection_score_of_a_non_finite_validation_is_nan_not_a_key_error():
    losses = {"dos": math.nan, "epdos": math.nan, "total": math.nan}
    assert math.isnan(selection_score(["dos", "epdos"], losses, {}))  # was: KeyError: 'wd_dos'
    assert math.isnan(selection_score(["fermi", "gap"], {}, {}))


def test_what_diverged_is_named():
    finite = {"dos": 1.0, "epdos": 1.0, "total": 2.0}
    assert training_divergence(finite) is None
    assert training_divergence({"dos": math.inf, "total": math.nan}) == "the training loss is not finite (dos, total)"
    assert validation_divergence(["dos", "epdos"], finite, {"wd_dos": 2.0, "wd_epdos": 3.0}, 5.0) is None
    what = validation_divergence(["dos", "epdos"], finite, {"wd_dos": 2.0}, math.nan)
    assert what == "the validation predictions are not finite (no wd_epdos)"
    assert "validation loss" in validation_divergence(["dos"], {"dos": math.nan}, {}, math.nan)
    assert "selection score (loss:gap)" in validation_divergence(["gap"], {"gap": 1.0, "total": 1.0}, {}, math.inf)


def test_diverging_two_task_run_names_the_model_and_the_epoch(tiny_dirs, tmp_path, monkeypatch):
    """Training steps stay finite, validation predictions are NaN: the 2-task (WD-selected) run of issue 9."""
    _nan_forward(monkeypatch, when=lambda model: not model.training)
    with pytest.raises(TrainingDiverged) as err:
        _train(tiny_dirs, tmp_path / "cross2", variant="cross2")
    message = str(err.value)
    assert message.startswith("cross2: training diverged at epoch 1/3: the validation")
    assert "train.max_lr" in message and "check the data" in message
    assert err.value.name == "cross2" and err.value.epoch == 1
    assert not (tmp_path / "cross2" / "best.pt").exists()


def test_all_nan_run_stops_at_the_first_epoch_with_a_clear_error(tiny_dirs, tmp_path, monkeypatch):
    _nan_forward(monkeypatch, when=lambda model: True)
    with pytest.raises(TrainingDiverged, match=r"^primary: training diverged at epoch 1/3: the training loss is not"):
        _train(tiny_dirs, tmp_path / "primary")
    assert not (tmp_path / "primary" / "best.pt").exists() and not (tmp_path / "primary" / "last.pt").exists()


def test_divergence_after_a_good_epoch_keeps_its_checkpoints(tiny_dirs, tmp_path, monkeypatch):
    """NaN from the second epoch on: the error names epoch 2; last.pt and best.pt hold epoch 1, not NaN weights."""
    from dosforge.model import losses

    original = losses.compute_losses
    calls = {"train": 0}

    def compute_losses(out, batch, loss_cfg, normalizer):
        res = original(out, batch, loss_cfg, normalizer)
        if torch.is_grad_enabled():  # training steps only; 2 steps per epoch on the tiny data (8 train, batch 4)
            calls["train"] += 1
            if calls["train"] > 2:
                res = dict(res, total=res["total"] * math.nan)
        return res

    monkeypatch.setattr(losses, "compute_losses", compute_losses)
    with pytest.raises(TrainingDiverged, match="at epoch 2/3: the training loss is not finite"):
        _train(tiny_dirs, tmp_path / "primary")
    assert load_last(tmp_path / "primary" / "last.pt")["epoch"] == 0  # epoch index 0 = epoch 1
    best = torch.load(tmp_path / "primary" / "best.pt", map_location="cpu", weights_only=True)
    assert best["epoch"] == 1 and all(
        torch.isfinite(v).all() for v in best["model_state"].values() if v.is_floating_point()
    )
