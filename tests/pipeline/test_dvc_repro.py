"""One end-to-end `dvc repro` of the whole stage graph on a tiny embedded configuration.

It runs the real stage scripts through DVC in a throw-away copy of the repository (a fresh git
repo), so it checks what a user gets from `dvc repro`: every stage runs, every metric file of the
contract appears, the report says the labels are synthetic, and DVC sees nothing left to do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dosforge.metrics import CONTRACT_KEYS

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "embedded": {"limit": 40, "kppra": 200},
    "train": {"epochs": 1, "batch_size": 16},
    "evaluate": {"dpi": 40},
}


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory) -> tuple[Path, dict]:
    dst = tmp_path_factory.mktemp("project")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in tracked:
        if rel.startswith(("metrics/", "plots/", "reports/")) or rel == "dvc.lock":
            continue  # start from a project that has never run
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    params = yaml.safe_load((dst / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section].update(values)
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{bindir}:{os.environ['PATH']}",
    }
    env.pop("MP_API_KEY", None)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    _run(["git", "init", "-q"], dst, env)
    _run(["git", "add", "-A"], dst, env)
    _run([*git, "commit", "-qm", "tiny project"], dst, env)
    _run(["dvc", "repro"], dst, env)
    return dst, env


@pytest.mark.slow
def test_repro_writes_every_metric_of_the_contract(tiny_project):
    project, _ = tiny_project
    params = yaml.safe_load((project / "params.yaml").read_text())
    models = ["primary", *params["ablations"], "baseline_mean", "baseline_composition_nn"]
    models += [f"seeds/{s}" for s in params["seeds"]]
    for name in models:
        metrics = json.loads((project / "metrics" / f"{name}.json").read_text())
        missing = [k for k in CONTRACT_KEYS if _get(metrics, k) is _MISSING]
        assert not missing, f"{name}.json lacks {missing}"
        assert _get(metrics, "n_test") > 0
    assert (project / "models" / "primary" / "best.pt").is_file()
    spread = json.loads((project / "metrics" / "seed_spread.json").read_text())
    assert spread["n_runs"] == 1 + len(params["seeds"]) >= 3  # the default measures the seed spread


@pytest.mark.slow
def test_repro_report_calls_the_labels_synthetic(tiny_project):
    project, _ = tiny_project
    report = (project / "reports" / "evaluation.md").read_text()
    assert "synthetic" in report.lower()
    assert any((project / "plots" / "spectra").glob("*.png"))


@pytest.mark.slow
def test_nothing_left_to_do_after_repro(tiny_project):
    project, env = tiny_project
    status = _run(["dvc", "status", "--json"], project, env).stdout.strip()
    assert json.loads(status or "{}") == {}


_MISSING = object()


def _get(d: dict, dotted: str):
    """Metrics may be flat ("dos.mae") or nested ({"dos": {"mae"}}); accept both."""
    if dotted in d:
        return d[dotted]
    node = d
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node
