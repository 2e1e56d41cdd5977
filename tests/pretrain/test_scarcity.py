"""The label-scarcity check: nested stratified subsets, equal steps, the decision rule, and a tiny run."""

from collections import Counter

import pytest
import yaml
from pretrain_testkit import PARAMS, small_structures, write_processed

import dosforge.pretrain.corpus as corpus_module
from dosforge.io import read_json
from dosforge.pretrain.run import run_pretraining
from dosforge.pretrain.scarcity import main, paired_gain, verdict
from dosforge.pretrain.subsets import nested_subsets, repeat_to


def test_nested_stratified_subsets():
    ids = [f"m{i:03d}" for i in range(200)]
    groups = ["m-3m"] * 100 + ["4/mmm"] * 60 + ["-1"] * 37 + ["6"] * 3  # "6" is pooled into "rare"
    subsets = nested_subsets(ids, groups, [10, 25, 50, 100], seed=1)
    assert [len(subsets[p]) for p in (10, 25, 50, 100)] == [20, 50, 100, 200]
    assert set(subsets[10]) <= set(subsets[25]) <= set(subsets[50]) <= set(subsets[100]) == set(ids)
    group_of = dict(zip(ids, groups, strict=True))
    counts = Counter(group_of[i] for i in subsets[10])
    assert counts["m-3m"] == 10 and counts["4/mmm"] == 6 and counts["-1"] in (3, 4)
    assert nested_subsets(ids, groups, [10, 25], seed=1)[10] == subsets[10]  # seeded
    assert nested_subsets(ids, groups, [10], seed=2)[10] != subsets[10]
    with pytest.raises(ValueError, match="percentages"):
        nested_subsets(ids, groups, [0, 50], seed=1)


def test_repeat_to_gives_equal_steps():
    ids = repeat_to(["a", "b", "c"], 10, seed=0)
    assert len(ids) == 10 and set(ids) == {"a", "b", "c"} and max(Counter(ids).values()) <= 4


def test_decision_rule():
    def runs(scratch, pre):
        out = []
        for seed, (s, p) in enumerate(zip(scratch, pre, strict=True)):
            out += [{"pct": 10, "arm": "scratch", "seed": seed, "metrics": {"k": s}},
                    {"pct": 10, "arm": "pretrained", "seed": seed, "metrics": {"k": p}}]  # fmt: skip
        return out

    helps = paired_gain(runs([10, 10, 10], [9.0, 9.1, 8.9]), 10, "k")
    assert helps["mean"] == pytest.approx(0.1) and helps["wins"] == 3 and verdict(helps) == "helps"
    assert verdict(paired_gain(runs([10, 10, 10], [11.0, 11.1, 10.9]), 10, "k")) == "harms"
    assert verdict(paired_gain(runs([10, 10, 10], [9.0, 11.0, 9.5]), 10, "k")) == "inconclusive"
    assert verdict(paired_gain(runs([10], [5.0]), 10, "k")) == "inconclusive"  # one seed decides nothing


def _pretrained_inputs(tmp_path, monkeypatch) -> list[str]:
    """A tiny processed set, its split, a pretrained encoder and params.yaml: the check's common arguments."""
    processed, split = write_processed(tmp_path / "data", PARAMS["graph"])
    monkeypatch.setattr(corpus_module, "bundle_structures", lambda: [(f"s{i}", s) for i, s in
                                                                     enumerate(small_structures())])  # fmt: skip
    run_pretraining(PARAMS, split_dir=split, out_dir=tmp_path / "pt", mlflow=False, progress=False)
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(PARAMS))
    return ["--params", str(params_path), "--processed", str(processed), "--split", str(split),
            "--pretrain", str(tmp_path / "pt"), "--out", str(tmp_path / "runs")]  # fmt: skip


def test_tiny_scarcity_run_writes_report(tmp_path, monkeypatch):
    args = [*_pretrained_inputs(tmp_path, monkeypatch), "--fractions", "50", "100",
            "--seeds", "1", "2", "--epochs", "1", "--metrics", str(tmp_path / "m.json"),
            "--report", str(tmp_path / "r.md"), "--plot", str(tmp_path / "p.png"), "--quiet"]  # fmt: skip
    with pytest.warns(UserWarning, match="OneCycle"):
        assert main(args) == 0
    out = read_json(tmp_path / "m.json")
    assert len(out["runs"]) == 8 and {r["n_labels"] for r in out["runs"]} == {4, 8}
    assert len({r["steps"] for r in out["runs"]}) == 1  # every run takes the same optimiser steps
    assert out["verdict"] in ("helps", "harms", "inconclusive") and out["gains"]["50.dos.wd_bins"]["n"] == 2
    assert "SYNTHETIC" in (tmp_path / "r.md").read_text() and (tmp_path / "p.png").stat().st_size > 1000
    nn = out["table"]["50.baseline_composition_nn.dos.wd_bins"]  # baselines fitted on each seed's subset
    assert len(nn["values"]) == 2 and all(v > 0 for v in nn["values"])
    report = (tmp_path / "r.md").read_text()
    assert "composition_nn (baseline)" in report and "](p.png)" in report  # the image link is relative to the report
    assert out["command"].startswith("python -m dosforge.pretrain.scarcity --params")
    mtime = (tmp_path / "runs" / "50pct-scratch-seed1" / "result.json").stat().st_mtime
    assert main(args) == 0  # resumed: every run is read back, none retrained
    assert (tmp_path / "runs" / "50pct-scratch-seed1" / "result.json").stat().st_mtime == mtime


def test_seeds_split_over_processes_then_one_report(tmp_path, monkeypatch):
    """--num-threads 1 with --seeds split among processes; a last call with every seed retrains nothing."""
    common = [*_pretrained_inputs(tmp_path, monkeypatch), "--fractions", "50", "--epochs", "1",
              "--num-threads", "1", "--quiet", "--plot", str(tmp_path / "p.png")]  # fmt: skip
    with pytest.warns(UserWarning, match="OneCycle"):
        for seed in ("1", "2"):
            assert main([*common, "--seeds", seed, "--metrics", str(tmp_path / f"m{seed}.json"),
                         "--report", str(tmp_path / f"r{seed}.md")]) == 0  # fmt: skip
    runs = sorted((tmp_path / "runs").glob("*/result.json"))
    mtimes = [r.stat().st_mtime for r in runs]
    assert len(runs) == 4
    assert main([*common, "--seeds", "1", "2", "--metrics", str(tmp_path / "m.json"),
                 "--report", str(tmp_path / "r.md")]) == 0  # fmt: skip
    assert [r.stat().st_mtime for r in runs] == mtimes  # every run read back
    out = read_json(tmp_path / "m.json")
    assert {r["num_threads"] for r in out["runs"]} == {1} and out["gains"]["50.dos.wd_bins"]["n"] == 2
