"""Training with several processes (torchrun, gloo on CPU) gives the results of one process (docs/training.md).

One `torchrun --standalone --nproc-per-node=2` launch trains every Table 2 configuration (the primary model and
params.yaml's ablations) for one epoch with micro-batches, plus a 2-epoch run and a run stopped after epoch 1;
the test then trains the same in this process (W = 1) and compares weights and buffers bitwise. A second launch
runs stages/train.py itself (DOSFORGE_NPROC=2) with MLflow: one set of outputs, one run.
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from mlflow import MlflowClient
from train_testkit import PARAMS

from dosforge.config import ConfigError
from dosforge.io import read_json
from dosforge.train.config import TrainConfig, resolve_train_config
from dosforge.train.loop import check_distributed
from dosforge.train.run import run_training

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT_S = 120
# 8 training materials, global batch 6 in micro-batches of 3: steps of [3, 3] and [2]; in the second step rank 1
# has no micro-batch of its own and joins the all-reduce with a zero-weight pass
TRAIN = {"preset": "cpu", "epochs": 1, "batch_size": 6, "micro_batch_size": 3, "eval_batch_size": 8}


def _params(variant: str | None, epochs: int = 1) -> dict:
    params = copy.deepcopy(PARAMS)
    params["train"] = dict(TRAIN, epochs=epochs)
    params["ablations"] = yaml.safe_load((ROOT / "params.yaml").read_text())["ablations"]
    if variant is not None:
        params["model"].update(params["ablations"][variant])
    return params


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    env.update(OMP_NUM_THREADS="1", DOSFORGE_DIST_TIMEOUT_S="60", DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true")
    return env


def _torchrun(args: list[str], env: dict, cwd: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *args]
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def _state(out: Path) -> dict:
    return torch.load(out / "last.pt", map_location="cpu", weights_only=False)["model_state"]


def _assert_same(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{what}: {len(different)} tensors differ, first {different[:3]}"


def _history(out: Path) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "time_s"} for h in read_json(out / "history.json")]


@pytest.fixture(scope="module")
def two_process_runs(tiny_dirs, tmp_path_factory):
    """Outputs of one 2-process launch: {variant: dir} after 1 epoch, a 2-epoch run, a run stopped after epoch 1."""
    processed, split = map(str, tiny_dirs)
    root = tmp_path_factory.mktemp("w2")
    variants = ["primary", *yaml.safe_load((ROOT / "params.yaml").read_text())["ablations"]]
    jobs = [
        {"params": _params(None if v == "primary" else v), "processed": processed, "split": split, "out": str(root / v)}
        for v in variants
    ]
    jobs.append({"params": _params(None, 2), "processed": processed, "split": split, "out": str(root / "full")})
    jobs.append(
        {
            "params": _params(None, 2),
            "processed": processed,
            "split": split,
            "out": str(root / "cut"),
            "stop_after_epoch": 1,
        }
    )
    (root / "jobs.json").write_text(json.dumps(jobs))
    _torchrun([str(WORKER), str(root / "jobs.json")], _env(), root)
    return root, variants


def test_two_processes_equal_one_process_accumulating_the_same_micro_batches(two_process_runs, tiny_dirs, tmp_path):
    root, variants = two_process_runs
    assert len(variants) == 12  # Table 2: the primary model and the 11 ablation variants of params.yaml
    processed, split = tiny_dirs
    for v in variants:
        out = tmp_path / v
        run_training(_params(None if v == "primary" else v), processed_dir=processed, split_dir=split, out_dir=out,
                     progress=False)  # fmt: skip
        _assert_same(_state(root / v), _state(out), v)  # parameters and BatchNorm running statistics
        assert _history(root / v) == _history(out), v
        assert sorted(p.name for p in (root / v).iterdir()) == sorted(p.name for p in out.iterdir()), v


def test_resume_with_one_process_after_two_ends_like_an_uninterrupted_two_process_run(two_process_runs, tiny_dirs):
    root, _ = two_process_runs
    assert read_json(root / "cut" / "history.json") if (root / "cut" / "history.json").exists() else True
    processed, split = tiny_dirs
    summary = run_training(_params(None, 2), processed_dir=processed, split_dir=split, out_dir=root / "cut",
                           progress=False)  # fmt: skip
    assert summary["resumed_after_epoch"] == 1
    _assert_same(_state(root / "cut"), _state(root / "full"), "resumed W=1 after W=2")
    assert _history(root / "cut") == _history(root / "full")


def test_stage_under_torchrun_writes_one_model_directory_and_one_mlflow_run(tiny_dirs, tmp_path):
    """stages/train.py relaunches itself under torchrun (DOSFORGE_NPROC=2); rank 0 alone writes and tracks."""
    processed, split = tiny_dirs
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_params(None)))
    env = _env()
    env.update(DOSFORGE_NPROC="2", MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    client.search_experiments()  # creates the store here (seconds of schema migration), outside the timed launch
    cmd = [sys.executable, str(ROOT / "stages" / "train.py"), "--params", "params.yaml",
           "--processed", str(processed), "--split", str(split), "--out", "model"]  # fmt: skip
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("primary: best epoch") == 1  # one process reports
    names = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert names == ["best.pt", "history.json", "last.pt", "mlflow_run.json", "summary.json", "test_predictions.h5"]
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].info.run_id == read_json(tmp_path / "model" / "mlflow_run.json")["run_id"]


def test_settings_that_would_depend_on_the_process_count_are_refused():
    cfg = resolve_train_config({"preset": "cpu", "batch_size": 8})
    with pytest.raises(ConfigError, match="micro_batch_size"):
        check_distributed(cfg, torch.device("cpu"), world=2)
    check_distributed(cfg, torch.device("cpu"), world=1)
    with pytest.raises(ConfigError, match="sync_bn needs CUDA"):
        check_distributed(resolve_train_config({"sync_bn": True}), torch.device("cpu"), world=1)
    with pytest.raises(ConfigError, match="micro_batch_size must lie"):
        TrainConfig(preset="cpu", epochs=1, batch_size=4, micro_batch_size=5)
    assert resolve_train_config({"micro_batch_size": 4}).micro_batch_size == 4
    assert resolve_train_config({}).micro_batch_size is None


def test_process_count_comes_from_the_environment():
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_stage", ROOT / "stages" / "train.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    assert stage.torchrun_args({}) is None
    assert stage.torchrun_args({"DOSFORGE_NPROC": "1"}) is None
    assert stage.torchrun_args({"DOSFORGE_NPROC": "8"}) == ["--standalone", "--nproc-per-node=8"]
    assert stage.torchrun_args({"PET_NPROC_PER_NODE": "4"}) == ["--standalone"]
    assert stage.torchrun_args({"PET_NPROC_PER_NODE": "4", "PET_NNODES": "2"}) == []
    assert stage.torchrun_args({"DOSFORGE_NPROC": "8", "LOCAL_RANK": "0"}) is None  # already a torchrun worker
    with pytest.raises(ConfigError, match="DOSFORGE_NPROC"):
        stage.torchrun_args({"DOSFORGE_NPROC": "two"})
