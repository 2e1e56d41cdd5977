"""`dosforge fanout` on a tiny DVC project: two variants trained concurrently, then an evaluate stage.

The project: a `data` stage copying the tiny processed set of tests/train, `ablate@<variant>` running the real
stages/train.py, and an `evaluate` stage reading the model summaries. After the fan-out `dvc status` is clean,
both variants are in dvc.lock, each has one MLflow run, and the weights equal a serial in-process training.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dosforge.io import write_json
from dosforge.launch import FanoutError, fanout, select_stages, upstream_stages

ROOT = Path(__file__).resolve().parents[2]
TRAIN_TESTS = ROOT / "tests" / "train"
VARIANTS = {
    "cross2": {"tasks": ["dos", "epdos"], "coupling": "cross", "gap_head": "extract"},
    "single_fermi": {"tasks": ["fermi"], "coupling": "parallel", "gap_head": "extract"},
}
EVALUATE = """import json, pathlib
summaries = sorted(pathlib.Path("models/ablations").glob("*/summary.json"))
out = {p.parent.name: json.loads(p.read_text())["best_score"] for p in summaries}
pathlib.Path("metrics").mkdir(exist_ok=True)
pathlib.Path("metrics/summary.json").write_text(json.dumps(out))
"""


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"fanout_{name}", TRAIN_TESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _params() -> dict:
    params = copy.deepcopy(_load("train_testkit").PARAMS)
    params["train"] = {"preset": "cpu", "epochs": 1, "batch_size": 4, "eval_batch_size": 8}
    params["ablations"] = VARIANTS
    return params


def _source(dst: Path) -> None:
    """The tiny processed set and split of tests/train (real graphs, made-up spectra)."""
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed, write_shard

    materials = _load("conftest").make_materials()
    ids = [m["id"] for m in materials]
    sha = write_shard(dst / "processed" / "shard-00000.h5", materials)
    manifest = {
        "ids": ids,
        "grid": {"emin": -10.0, "emax": 10.0, "bins": 256},
        "shards": [{"file": "shard-00000.h5", "sha256": sha, "n": len(ids)}],
        "graph": {"params": {"cutoff": 4.0, "max_neighbors": 12}, "keys": ["edge_index", "edge_vec", "lattice_vecs"]},
    }
    write_json(dst / "processed" / "manifest.json", manifest)
    split = {"train": [i for i in ids if i.endswith("-0")], "val": [i for i in ids if i.endswith("-1")][:4]}
    split["test"] = [i for i in ids if i.endswith("-1")][4:]
    write_json(dst / "split" / "split.json", dict(split, seed=0, fractions=[0.5, 0.25, 0.25]))
    Normalizer.fit(load_processed(dst / "processed"), split["train"]).to_json(dst / "split" / "normalization.json")


def _project(root: Path, source: Path, mlflow: bool = True) -> Path:
    shutil.copytree(source, root / "source")
    (root / "params.yaml").write_text(yaml.safe_dump(_params()))
    (root / "evaluate.py").write_text(EVALUATE)
    dvc = {
        "stages": {
            "data": {
                "cmd": "python -c \"import shutil; shutil.copytree('source', 'data')\"",
                "deps": ["source"],
                "outs": ["data"],
            },
            "ablate": {
                "foreach": "${ablations}",
                "do": {
                    "cmd": f"python {ROOT / 'stages' / 'train.py'} --variant ${{key}}"
                    + ("" if mlflow else " --no-mlflow"),
                    "deps": ["data/processed", "data/split"],
                    "params": ["seed", "grid", "train", "loss", "model", "ablations.${key}"],
                    "outs": [{"models/ablations/${key}": {"persist": True}}],
                },
            },
            "evaluate": {
                "cmd": "python evaluate.py",
                "deps": ["evaluate.py", "models/ablations"],
                "metrics": [{"metrics/summary.json": {"cache": False}}],
            },
        }
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=root, env=_env(), check=True)
    return root


def _env() -> dict:
    bindir = str(Path(sys.executable).parent)
    return dict(
        os.environ, DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true", PATH=f"{bindir}:{os.environ['PATH']}",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    )  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("source")
    _source(dst)
    return dst


@pytest.fixture
def project_env(monkeypatch):
    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _serial_weights(project: Path, variant: str, tmp: Path) -> dict:
    from dosforge.train.run import run_training

    run_training(_params(), processed_dir=project / "data" / "processed", split_dir=project / "data" / "split",
                 out_dir=tmp / variant, variant=variant, progress=False)  # fmt: skip
    return torch.load(tmp / variant / "best.pt", map_location="cpu", weights_only=True)["model_state"]


@pytest.mark.slow
@pytest.mark.parametrize(("executor", "mlflow"), [("local", True), ("submitit", False)])
def test_fanout_trains_two_variants_concurrently_like_a_serial_run(executor, mlflow, source, project_env, tmp_path):
    """local: slots on this machine, with the mlflow server; submitit: its local executor (no SLURM here), without
    tracking (one server start fewer on the 2-core CI)."""
    from mlflow import MlflowClient

    project = _project(tmp_path / "project", source, mlflow)
    assert select_stages(project, ["ablate"]) == ["ablate@cross2", "ablate@single_fermi"]
    assert upstream_stages(project, ["ablate@cross2", "ablate@single_fermi"]) == ["data"]

    summary = fanout(["ablate"], root=project, jobs=2, executor=executor, mlflow=mlflow, progress=False)

    assert [r["stage"] for r in summary["stages"]] == ["ablate@cross2", "ablate@single_fermi"]
    status = subprocess.run(["dvc", "status", "--json"], cwd=project, capture_output=True, text=True, check=True)
    assert json.loads(status.stdout.strip() or "{}") == {}
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert {"data", "ablate@cross2", "ablate@single_fermi", "evaluate"} <= set(lock)
    assert set(json.loads((project / "metrics" / "summary.json").read_text())) == set(VARIANTS)
    if mlflow:  # one run per model, written through the server into the project's sqlite store
        client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        runs = client.search_runs([client.get_experiment_by_name("dosforge").experiment_id])
        assert sorted(r.info.run_name for r in runs) == sorted(VARIANTS)
        assert all(r.info.status == "FINISHED" for r in runs)
    else:
        assert not (project / "mlflow.db").exists()
    for variant in VARIANTS:
        fanned = torch.load(project / "models" / "ablations" / variant / "best.pt", weights_only=True)["model_state"]
        serial = _serial_weights(project, variant, tmp_path / "serial")
        assert all(torch.equal(fanned[k], serial[k]) for k in serial), variant


def test_unknown_stage_and_bad_slots_are_refused(source, project_env, tmp_path):
    project = _project(tmp_path / "project", source)
    with pytest.raises(FanoutError, match="no stage 'ablations'.*ablate@cross2"):
        fanout(["ablations"], root=project, progress=False)
    with pytest.raises(FanoutError, match="needs at least 2 devices"):
        fanout(["ablate"], root=project, jobs=2, devices=["0"], progress=False)
    with pytest.raises(FanoutError, match="executor must be"):
        fanout(["ablate"], root=project, executor="ray", progress=False)


def test_cli_reports_a_failed_fanout_and_rejects_bad_options(source, project_env, tmp_path, capsys):
    from dosforge.cli import main

    project = _project(tmp_path / "project", source)
    assert main(["fanout", "ablations", "--root", str(project), "--no-mlflow-server"]) == 1
    assert "no stage 'ablations'" in capsys.readouterr().err
    assert main(["fanout", "ablate", "--root", str(project), "--slurm", "partition"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
