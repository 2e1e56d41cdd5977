"""Training on phonon data (dosforge.train.phonon): the manifest's frequency grid, phonon_model's tasks, patch count
and epochs, variants with electron-only tasks skipped with their reason, a clear error for Fermi/gap on phonons."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from train_testkit import PARAMS

from dosforge.config import ConfigError
from dosforge.io import read_json
from dosforge.predictions import Predictions
from dosforge.train.run import run_training


def _params(**phonon_model) -> dict:
    params = copy.deepcopy(PARAMS)
    params["phonon_model"] = {"tasks": ["dos", "epdos"], "n_patches": 17, "epochs": 2, **phonon_model}
    params["ablations"]["single_fermi"] = {"tasks": ["fermi"], "coupling": "parallel", "gap_head": "extract"}
    return params


def test_primary_trains_on_the_frequency_grid_with_phonon_model_settings(phonon_dirs, tmp_path):
    processed, split = phonon_dirs
    summary = run_training(_params(), processed_dir=processed, split_dir=split, out_dir=tmp_path, progress=False)
    assert summary["tasks"] == ["dos", "epdos"] and summary["epochs"] == 2  # phonon_model.epochs, not train.epochs
    pred = Predictions.load(tmp_path / "test_predictions.h5")
    assert pred.dos_pred.shape == (len(read_json(split / "split.json")["test"]), 51)
    assert np.isfinite(pred.dos_pred).all() and np.isfinite(pred.epdos_pred).all()
    import torch

    meta = torch.load(tmp_path / "best.pt", map_location="cpu", weights_only=False)
    assert meta["grid"]["unit"] == "cm^-1" and meta["grid"]["points"] == 51
    assert meta["model_config"]["bins"] == 51 and meta["model_config"]["decoder"]["n_patches"] == 17


def test_spectral_variant_trains_and_electron_only_variant_is_skipped(phonon_dirs, tmp_path):
    processed, split = phonon_dirs
    kw = {"processed_dir": processed, "split_dir": split, "progress": False}
    (tmp_path / "single_fermi").mkdir()
    (tmp_path / "single_fermi" / "summary.json").write_text("{}")  # an electron run's leftovers must go
    skipped = run_training(_params(), variant="single_fermi", out_dir=tmp_path / "single_fermi", **kw)
    assert skipped["skipped"] and "fermi" in skipped["reason"]
    assert sorted(p.name for p in (tmp_path / "single_fermi").iterdir()) == ["skipped.json"]
    trained = run_training(_params(), variant="cross2", out_dir=tmp_path / "cross2", **kw)
    assert trained["tasks"] == ["dos", "epdos"] and (tmp_path / "cross2" / "test_predictions.h5").exists()


@pytest.mark.parametrize(
    ("phonon_model", "match"),
    [
        ({"tasks": ["dos", "gap"]}, "no Fermi level or band gap"),
        ({"n_patches": 16}, "divisible"),
        ({"size": 3}, "unknown key"),
    ],  # fmt: skip
)
def test_bad_phonon_settings_are_clear_errors(phonon_dirs, tmp_path, phonon_model, match):
    processed, split = phonon_dirs
    with pytest.raises(ConfigError, match=match):
        run_training(_params(**phonon_model), processed_dir=processed, split_dir=split, out_dir=tmp_path)
    assert not (tmp_path / "last.pt").exists()
