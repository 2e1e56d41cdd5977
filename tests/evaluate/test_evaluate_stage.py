"""The evaluate stage's work on a tiny set of model directories: metrics JSON, report, plots."""

import json

import numpy as np
import pytest

from dosforge.evaluate import evaluate_models
from dosforge.evaluate.baselines import Baseline
from dosforge.io import write_json
from dosforge.metrics import CONTRACT_KEYS, METRIC_KEYS


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, model_dirs, grid):
    out = tmp_path_factory.mktemp("eval")
    truth = {"dos": np.stack([_flat_gap(grid, 2), _flat_gap(grid, 0)]), "gap": np.array([4 * grid.de, 0.0])}
    truth["is_metal"] = truth["gap"] == 0
    result = evaluate_models(
        model_dirs, grid, out / "metrics", out / "plots", out / "reports" / "evaluation.md",
        {"source": "embedded", "synthetic": True}, ground_truth=truth, percentiles=(0, 50, 95), dpi=40,
    )  # fmt: skip
    return out, result


def _flat_gap(grid, half):
    d = np.ones(grid.bins)
    d[grid.bins // 2 - half : grid.bins // 2 + half] = 0
    return d


def test_metrics_json_per_model_has_every_contract_key(evaluated, model_dirs):
    out, _ = evaluated
    for name in model_dirs:
        data = json.loads((out / "metrics" / f"{name}.json").read_text(), parse_constant=pytest.fail)  # no NaN
        assert set(CONTRACT_KEYS) <= set(data), name
        assert data["n_test"] == 8
    primary = json.loads((out / "metrics" / "primary.json").read_text())
    assert all(isinstance(primary[k], float) for k in CONTRACT_KEYS if k != "n_test")
    single_fermi = json.loads((out / "metrics" / "single_fermi.json").read_text())
    assert single_fermi["fermi.mae_ev"] > 0 and single_fermi["dos.wd_bins"] is None


def test_gap_validation_written(evaluated):
    out, result = evaluated
    gv = json.loads((out / "metrics" / "gap_validation.json").read_text())
    assert gv["n"] == 2 and gv["threshold_scan.mae_ev"] == pytest.approx(0.0)
    assert result.gap_validation == gv


def test_report_has_tables_and_synthetic_statement(evaluated):
    out, result = evaluated
    report = (out / "reports" / "evaluation.md").read_text()
    assert "SYNTHETIC" in report and "NOT comparable" in report
    single = next(line for line in report.splitlines() if line.startswith("| 1-task | Single |"))
    wd = result.metrics["single_dos"]["dos.wd_bins"]
    assert f"{wd:.3f}" in single and "–" not in single.split("|")[3]
    assert "## Gap extraction on ground truth" in report and "(../plots/spectra/primary.png)" in report


def test_plots_written_for_each_model(evaluated):
    out, result = evaluated
    assert (out / "plots" / "spectra" / "primary.png").is_file()
    assert not (out / "plots" / "spectra" / "single_fermi.png").exists()  # no spectra to show
    for name in ("primary", "single_fermi", "single_gap", "single_dos"):
        assert (out / "plots" / "parity" / f"{name}.png").is_file()
    header = (out / "plots" / "curves" / "primary.csv").read_text().splitlines()[0]
    assert header == "epoch,train_loss,val_loss,lr"
    assert result.logged_to_mlflow == dict.fromkeys(result.metrics, False)  # no mlflow_run.json in these dirs


def test_missing_model_outputs_are_named(tmp_path, grid, model_dirs):
    dirs = {"primary": model_dirs["primary"], "cross2": tmp_path / "cross2"}
    with pytest.raises(FileNotFoundError, match="cross2"):
        evaluate_models(dirs, grid, tmp_path / "m", tmp_path / "p", tmp_path / "r.md", {"source": "mp"})


def test_predictions_contradicting_the_trained_tasks_name_the_model(
    tmp_path, grid, predictions_factory, history_factory
):
    d = tmp_path / "parallel2"
    predictions_factory(("epdos",), n=4).save(d / "test_predictions.h5", attrs={"tasks": "dos,epdos"})
    write_json(d / "history.json", history_factory(2))
    with pytest.raises(ValueError, match=r"parallel2 .*dos: all NaN"):
        evaluate_models({"parallel2": d}, grid, tmp_path / "m", tmp_path / "p", tmp_path / "r.md", {"source": "mp"})


def test_baselines_and_seeds_are_scored_written_and_reported(
    tmp_path, grid, model_dirs, predictions_factory, model_dir_factory
):
    baselines = {"mean": Baseline("mean", predictions_factory(seed=5), {"baseline.n_train": 12}, "the mean, fitted")}
    seed_dir = model_dir_factory(tmp_path / "seeds" / "43", seed=6)
    out = tmp_path / "out"
    result = evaluate_models(
        {"primary": model_dirs["primary"]}, grid, out / "metrics", out / "plots", out / "evaluation.md",
        {"source": "mp"}, percentiles=(0,), dpi=30, baselines=baselines, seed_dirs={43: seed_dir}, primary_seed=42,
    )  # fmt: skip
    data = json.loads((out / "metrics" / "baseline_mean.json").read_text(), parse_constant=pytest.fail)
    assert list(data) == [*METRIC_KEYS, "baseline.n_train"] and data["baseline.n_train"] == 12
    assert data == result.baselines["baseline_mean"] and "baseline_mean" not in result.metrics
    assert data["dos.wd_bins"] > 0 and data["consistency.sum_rule"] is not None
    assert (out / "plots" / "spectra" / "baseline_mean.png").is_file()
    assert (out / "plots" / "parity" / "baseline_mean.png").is_file()
    assert not (out / "plots" / "curves" / "baseline_mean.csv").exists()  # a baseline has no training history
    seed = json.loads((out / "metrics" / "seeds" / "43.json").read_text())
    spread = json.loads((out / "metrics" / "seed_spread.json").read_text())
    primary = result.metrics["primary"]
    assert spread["n_runs"] == 2 and spread["dos.wd_bins"]["mean"] == pytest.approx(
        (primary["dos.wd_bins"] + seed["dos.wd_bins"]) / 2
    )
    report = (out / "evaluation.md").read_text()
    assert "| baseline | baseline_mean (baseline) |" in report and "primary, 2 seeds: mean ± std" in report
    assert "| primary (seed 42) |" in report and "No noise estimate" in report


def test_a_missing_seed_model_is_named(tmp_path, grid, model_dirs):
    with pytest.raises(FileNotFoundError, match="seed 43"):
        evaluate_models(
            {"primary": model_dirs["primary"]}, grid, tmp_path / "m", tmp_path / "p", tmp_path / "r.md",
            {"source": "mp"}, seed_dirs={43: tmp_path / "nowhere"},
        )  # fmt: skip
