"""Seed spread: aggregation over runs of the primary model, the 2-sigma rule, and the seeds parameter."""

import math

import numpy as np
import pytest

from dosforge.config import ConfigError
from dosforge.evaluate.seeds import (
    NOISE_FACTOR,
    exceeds_noise,
    noise_std,
    seed_list,
    seed_model_dirs,
    seed_spread,
)

RUNS = {
    "primary (seed 42)": {"dos.wd_bins": 10.0, "fermi.mae_ev": 0.5, "gap.mae_ev": None, "n_test": 180},
    "seed 43": {"dos.wd_bins": 12.0, "fermi.mae_ev": 0.7, "gap.mae_ev": None, "n_test": 180},
    "seed 44": {"dos.wd_bins": 14.0, "fermi.mae_ev": math.nan, "gap.mae_ev": None, "n_test": 180},
}


def test_spread_is_mean_sample_std_and_n_per_key():
    spread = seed_spread(RUNS)
    assert spread["n_runs"] == 3
    assert spread["dos.wd_bins"] == {"mean": 12.0, "std": pytest.approx(2.0), "n": 3}  # sample std (ddof = 1)
    assert spread["fermi.mae_ev"] == {
        "mean": pytest.approx(0.6),
        "std": pytest.approx(np.std([0.5, 0.7], ddof=1)),
        "n": 2,
    }
    assert spread["gap.mae_ev"] == {"mean": None, "std": None, "n": 0}  # the model has no such output
    assert spread["n_test"] == {"mean": 180.0, "std": 0.0, "n": 3}


def test_a_single_run_has_a_mean_but_no_std():
    spread = seed_spread({"primary": {"dos.wd_bins": 3.0}})
    assert spread == {"n_runs": 1, "dos.wd_bins": {"mean": 3.0, "std": None, "n": 1}}


def test_noise_std_needs_three_runs_with_a_value():
    spread = seed_spread(RUNS)
    assert noise_std(spread, "dos.wd_bins") == pytest.approx(2.0)
    assert noise_std(spread, "fermi.mae_ev") is None  # only two runs have it
    assert noise_std(spread, "gap.mae_ev") is None and noise_std(spread, "unknown") is None
    two = seed_spread({k: RUNS[k] for k in list(RUNS)[:2]})
    assert two["dos.wd_bins"]["std"] is not None and noise_std(two, "dos.wd_bins") is None
    assert noise_std(None, "dos.wd_bins") is None


def test_differences_beyond_twice_the_std_exceed_the_noise():
    assert NOISE_FACTOR == pytest.approx(2 * np.sqrt(2))  # 2 std of the difference of two single runs
    assert exceeds_noise(15.7, 10.0, 2.0)  # 5.7 > 5.66
    assert not exceeds_noise(15.6, 10.0, 2.0)  # 5.6 is within 2 sqrt(2) x 2
    assert exceeds_noise(4.3, 10.0, 2.0)  # either direction
    assert not exceeds_noise(None, 10.0, 2.0) and not exceeds_noise(15.7, None, 2.0)
    assert not exceeds_noise(15.7, 10.0, None)


def test_seed_list_validation():
    assert seed_list({"seed": 42, "seeds": [43, 44]}) == [43, 44]
    assert seed_list({"seed": 42}) == [] and seed_list({"seed": 42, "seeds": None}) == []
    with pytest.raises(ConfigError, match="primary model's seed"):
        seed_list({"seed": 42, "seeds": [42, 43]})
    with pytest.raises(ConfigError, match="twice"):
        seed_list({"seed": 42, "seeds": [43, 43]})
    with pytest.raises(ConfigError, match="list of integers"):
        seed_list({"seed": 42, "seeds": "43"})
    with pytest.raises(ConfigError, match="list of integers"):
        seed_list({"seed": 42, "seeds": [43.5]})


def test_missing_seed_models_are_named_with_the_command(tmp_path):
    (tmp_path / "seeds" / "43").mkdir(parents=True)
    (tmp_path / "seeds" / "43" / "test_predictions.h5").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"seed 44: .*seeds/44/test_predictions.h5") as info:
        seed_model_dirs([43, 44], tmp_path)
    assert "dvc repro" in str(info.value) and "seed 43:" not in str(info.value)
    assert seed_model_dirs([43], tmp_path) == {43: tmp_path / "seeds" / "43"}
    assert seed_model_dirs([], tmp_path) == {}
