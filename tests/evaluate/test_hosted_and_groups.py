"""Evaluate with a hosted published baseline (Table 1 row beside the paper) and a split with held-out groups."""

import numpy as np

from dosforge.evaluate import evaluate_models
from dosforge.evaluate.groups import group_metrics, subset
from dosforge.io import read_json
from dosforge.metrics import CONTRACT_KEYS


def test_hosted_baseline_and_per_group_breakdown(tmp_path, grid, model_dir_factory, predictions_factory):
    primary = model_dir_factory(tmp_path / "models" / "primary", seed=2)
    hosted = model_dir_factory(tmp_path / "models" / "baselines" / "dostransformer", tasks=("dos",), seed=5)
    ids = predictions_factory().ids
    groups = {ids[0]: "monoclinic", ids[1]: "monoclinic", ids[2]: "triclinic"}
    out = tmp_path / "out"
    result = evaluate_models(
        {"primary": primary}, grid, out / "metrics", out / "plots", out / "report.md",
        {"source": "embedded", "synthetic": True}, percentiles=(0,), dpi=30, log_mlflow=False,
        hosted_dirs={"dostransformer": hosted}, split_groups={"strategy": "crystal_system", "groups": groups},
    )  # fmt: skip
    m = read_json(out / "metrics" / "dostransformer.json")
    assert set(CONTRACT_KEYS) <= set(m) and m["dos.wd_bins"] is not None and m["epdos.wd_bins"] is None
    assert "dostransformer" not in result.metrics  # not a DOSForge model: its own report sections
    report = (out / "report.md").read_text()
    assert "## Table 1: published models hosted as baselines" in report
    assert "dostransformer (ours, hosted baseline)" in report and "DOSTransformer (paper, DFT) | 3.20 | 82.2" in report
    g = read_json(out / "metrics" / "groups.json")
    assert g["strategy"] == "crystal_system" and set(g["models"]) == {"primary", "dostransformer"}
    assert g["models"]["primary"]["monoclinic"]["n_test"] == 2 and g["models"]["primary"]["triclinic"]["n_test"] == 1
    assert g["models"]["dostransformer"]["triclinic"]["fermi.mae_ev"] is None
    assert "## Test metrics per held-out group (split.strategy = crystal_system)" in report


def test_no_groups_writes_an_empty_breakdown_and_no_section(tmp_path, grid, model_dir_factory):
    primary = model_dir_factory(tmp_path / "models" / "primary", seed=2)
    out = tmp_path / "out"
    evaluate_models({"primary": primary}, grid, out / "m", out / "p", out / "r.md", {"source": "embedded"},
                    percentiles=(0,), dpi=30, log_mlflow=False)  # fmt: skip
    assert read_json(out / "m" / "groups.json") == {"strategy": "point_group", "models": {}}
    assert "per held-out group" not in (out / "r.md").read_text()


def test_group_metrics_equal_metrics_of_the_subset(grid, predictions_factory):
    pred = predictions_factory(n=6, seed=4)
    groups = {pred.ids[i]: ("a" if i < 2 else "b") for i in range(5)}  # the sixth has no group
    per = group_metrics(pred, groups, grid)
    assert per["a"]["n_test"] == 2 and per["b"]["n_test"] == 3
    sub = subset(pred, np.array([True, True, False, False, False, False]))
    assert sub.ids == pred.ids[:2] and sub.epdos_ptr[-1] == len(sub.epdos_z)
    from dosforge.metrics import wasserstein_bins

    assert per["a"]["dos.wd_bins"] == float(np.mean(wasserstein_bins(pred.dos_pred[:2], pred.dos_true[:2])))
