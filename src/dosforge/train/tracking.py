"""MLflow tracking: one run per trained model (DESIGN.md "Tracking").

The run holds the resolved configuration as params, per-epoch train/val losses and learning rate
as metrics, the best checkpoint as an artifact, and tags for the DVC stage, the variant and the
git commit. The default store is `sqlite:///mlflow.db` in the project folder (the folder stages
run in); `MLFLOW_TRACKING_URI` overrides it. Secrets never reach MLflow: keys whose name looks
like a credential are refused before logging, and API keys are never part of params.yaml anyway.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "dosforge"
_SECRET = re.compile(r"(api[_-]?key|token|secret|password|credential)", re.IGNORECASE)


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def git_commit(cwd: str | Path = ".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """Nested config -> {"model.coupling": "cross", ...}; values as strings (MLflow params are strings)."""
    flat = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if _SECRET.search(str(k)):
            continue  # never log anything that looks like a credential
        if isinstance(v, dict):
            flat.update(flatten(v, key + "."))
        else:
            flat[key] = str(v)[:500]  # MLflow's param value limit
    return flat


class Tracker:
    """A thin wrapper over `mlflow.MlflowClient` for one run (no global MLflow state is touched)."""

    def __init__(
        self, uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT, artifact_location: str | None = None
    ):
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow import MlflowClient

        self.uri = uri or tracking_uri()
        self.client = MlflowClient(tracking_uri=self.uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=artifact_location)
        else:
            self.experiment_id = exp.experiment_id
        self.run_id: str | None = None

    def start(self, run_name: str, tags: dict[str, str], run_id: str | None = None) -> str:
        """Start a run, or reopen `run_id` (a resumed training continues its own run) when it exists."""
        if run_id is not None:
            try:
                run = self.client.get_run(run_id)
                if run.info.experiment_id == self.experiment_id:
                    self.run_id = run_id
                    self.client.update_run(run_id, status="RUNNING")
                    return run_id
            except Exception:  # noqa: BLE001 - an unknown or deleted run: start a fresh one
                pass
        tags = {k: str(v) for k, v in tags.items()}
        self.run_id = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags).info.run_id
        return self.run_id

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        flat = flatten(params)
        items = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None and v == v]
        if items:
            self.client.log_batch(self.run_id, metrics=items)

    def log_artifact(self, path: str | Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def end(self, status: str = "FINISHED") -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)

    def info(self) -> dict:
        return {"run_id": self.run_id, "experiment_id": self.experiment_id, "tracking_uri": self.uri}
