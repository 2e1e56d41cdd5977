"""`python stages/evaluate.py` on a tiny project: processed data on disk, two model directories."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from dosforge.io import write_json
from dosforge.metrics import CONTRACT_KEYS, METRIC_KEYS
from dosforge.shards import write_shard

STAGE = Path(__file__).resolve().parents[2] / "stages" / "evaluate.py"


def _stage():
    spec = importlib.util.spec_from_file_location("evaluate_stage", STAGE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _processed(path: Path, *preds) -> None:
    """Write the ground truth of `preds` as processed shards (structure fields are placeholders)."""
    materials = []
    for pred, i in ((p, i) for p in preds for i in range(len(p))):
        mid = pred.ids[i]
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
    ids = [m["id"] for m in materials]
    manifest = {"ids": ids, "source": "embedded", "synthetic": True, "grid": grid, "shards": shards}
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
    train = predictions_factory(n=4, seed=8)  # the baselines' training split: other materials, other ids
    train.ids = [f"train-{i}" for i in range(len(train))]
    _processed(root / "data" / "processed", full, train)
    write_json(root / "data" / "split" / "split.json", {"train": train.ids, "val": [], "test": full.ids})
    for name, pred in (("primary", full), ("ablations/single_gap", predictions_factory(("gap",), n=6, seed=7))):
        pred.save(root / "models" / name / "test_predictions.h5")
        write_json(root / "models" / name / "history.json", history_factory(3))
    return root


def _run(root: Path, *extra: str) -> int:
    args = ["--params", str(root / "params.yaml"), "--processed", str(root / "data" / "processed")]
    args += ["--split", str(root / "data" / "split")]
    args += ["--models", str(root / "models"), "--metrics", str(root / "metrics"), "--plots", str(root / "plots")]
    return _stage().main(args + ["--report", str(root / "reports" / "evaluation.md"), *extra])


def test_stage_writes_metrics_report_and_plots(project, capsys, caplog):
    assert _run(project) == 0
    assert {p.name for p in (project / "metrics").iterdir()} == {
        "primary.json",
        "single_gap.json",
        "gap_validation.json",
        "baseline_mean.json",
        "baseline_composition_nn.json",
        "seed_spread.json",
        "seeds",  # empty: params list no extra seed
        "groups.json",  # per held-out group metrics (issue 10): no groups in this split, so no models
    }
    gv = json.loads((project / "metrics" / "gap_validation.json").read_text())
    assert gv["n"] == 10 and gv["threshold_scan.mae_ev"] == pytest.approx(0.0, abs=1e-6)  # edges sit on bin edges
    report = (project / "reports" / "evaluation.md").read_text()
    assert "SYNTHETIC" in report
    spectra = sorted(p.name for p in (project / "plots" / "spectra").iterdir())
    assert spectra == ["baseline_composition_nn.png", "baseline_mean.png", "primary.png"]
    out = capsys.readouterr().out
    assert "SYNTHETIC labels" in out
    names = [line.split()[0] for line in out.splitlines() if " DOS WD " in line]
    assert names == ["baseline_mean", "baseline_composition_nn", "primary", "single_gap"]  # the floor first
    for name in ("baseline_mean", "baseline_composition_nn"):
        data = json.loads((project / "metrics" / f"{name}.json").read_text(), parse_constant=pytest.fail)
        assert set(METRIC_KEYS) <= set(data) and data["n_test"] == 6, name
        assert all(isinstance(data[k], float) for k in CONTRACT_KEYS if k != "n_test"), name  # all four tasks
        assert data["baseline.n_train"] == 4
    assert "| baseline | baseline_mean (baseline) |" in report and "## Models against the best baseline" in report
    spread = json.loads((project / "metrics" / "seed_spread.json").read_text())
    assert spread["n_runs"] == 1 and spread["dos.wd_bins"]["std"] is None  # primary alone: no spread
    assert "No noise estimate" in report
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


def _with_params(project: Path, name: str, **changes) -> list[str]:
    """Stage arguments for a copy of the project's params with `changes` (section -> value) applied."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params.update(changes)
    (project / name).write_text(yaml.safe_dump(params))
    out = project / name.replace(".yaml", "")
    return [
        "--params", str(project / name), "--processed", str(project / "data" / "processed"),
        "--split", str(project / "data" / "split"), "--models", str(project / "models"),
        "--metrics", str(out / "metrics"), "--plots", str(out / "plots"), "--report", str(out / "evaluation.md"),
    ]  # fmt: skip


def test_extra_seeds_give_per_seed_metrics_and_the_spread(project, predictions_factory, history_factory, capsys):
    for s, seed in ((43, 11), (44, 12)):
        d = project / "models" / "seeds" / str(s)
        predictions_factory(n=6, seed=seed).save(d / "test_predictions.h5", attrs={"tasks": "dos,epdos,fermi,gap"})
        write_json(d / "history.json", history_factory(3))
    args = _with_params(project, "seeds.yaml", seed=42, seeds=[43, 44])
    out = project / "seeds"
    (out / "metrics" / "seeds").mkdir(parents=True)
    write_json(out / "metrics" / "seeds" / "45.json", {"n_test": 1})  # a seed no longer in params
    assert _stage().main(args) == 0
    assert sorted(p.name for p in (out / "metrics" / "seeds").iterdir()) == ["43.json", "44.json"]
    runs = [json.loads((out / "metrics" / f).read_text()) for f in ("primary.json", "seeds/43.json", "seeds/44.json")]
    spread = json.loads((out / "metrics" / "seed_spread.json").read_text())
    wd = [r["dos.wd_bins"] for r in runs]
    assert spread["n_runs"] == 3 and spread["dos.wd_bins"]["n"] == 3
    assert spread["dos.wd_bins"]["mean"] == pytest.approx(np.mean(wd))
    assert spread["dos.wd_bins"]["std"] == pytest.approx(np.std(wd, ddof=1))
    report = (out / "evaluation.md").read_text()
    assert "primary, 3 seeds: mean ± std" in report and "No noise estimate" not in report
    assert "seed spread of primary (3 runs" in capsys.readouterr().out


def test_a_listed_seed_without_a_model_is_an_error_naming_it(project, capsys):
    assert _stage().main(_with_params(project, "missing.yaml", seed=42, seeds=[43, 99])) == 2
    err = capsys.readouterr().err
    assert "seed 99" in err and "dvc repro" in err and "seed 43:" not in err


def test_the_primary_seed_listed_again_is_an_error(project, capsys):
    assert _stage().main(_with_params(project, "dup.yaml", seed=42, seeds=[42])) == 2
    assert "primary model's seed" in capsys.readouterr().err


def test_unknown_baseline_parameter_lists_the_valid_ones(project, capsys):
    params = yaml.safe_load((project / "params.yaml").read_text())
    evaluate = dict(params["evaluate"], baselines={"composition_nn": {"k": 1, "metric": "cosine"}})
    assert _stage().main(_with_params(project, "metric.yaml", evaluate=evaluate)) == 2
    assert "l1, l2" in capsys.readouterr().err
