"""Put each model's test metrics on its own MLflow run, so runs compare side by side in the UI.

`models/<name>/mlflow_run.json` ({"run_id", "experiment_id", "tracking_uri"}) is written by
training. When it is missing or its run cannot be reached, evaluation goes on: the metrics JSON
and report are the record of truth, the MLflow copy is a convenience, so we warn and skip.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

from dosforge.io import read_json

log = logging.getLogger(__name__)
PREFIX = "test."  # test.dos.wd_bins, test.gap.ext_mae_ev, ... (training logs per-epoch train/val curves)


def log_test_metrics(run_file: str | Path, metrics: dict, artifacts: list[str | Path] = ()) -> bool:
    """Log finite `metrics` (as `test.<key>`) and `artifacts` onto the run named in `run_file`.

    Returns True when logged, False (with a warning) when the run file is missing or unusable.
    """
    run_file = Path(run_file)
    if not run_file.is_file():
        log.warning("%s not found: test metrics not logged to MLflow (the metrics JSON is still written)", run_file)
        return False
    info = read_json(run_file)
    if not info.get("run_id") or not info.get("tracking_uri"):
        log.warning("%s lacks run_id/tracking_uri: test metrics not logged to MLflow", run_file)
        return False
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=info["tracking_uri"])
    now = int(time.time() * 1000)
    items = [
        Metric(PREFIX + k, float(v), now, 0)
        for k, v in metrics.items()
        if v is not None and not isinstance(v, bool) and math.isfinite(float(v))
    ]
    try:
        client.get_run(info["run_id"])
        for i in range(0, len(items), 1000):  # MLflow's per-batch metric limit
            client.log_batch(info["run_id"], metrics=items[i : i + 1000])
        for path in artifacts:
            if Path(path).is_file():
                client.log_artifact(info["run_id"], str(path), artifact_path="evaluation")
    except MlflowException as exc:
        log.warning(
            "MLflow run %s in %s not usable (%s): test metrics not logged", info["run_id"], info["tracking_uri"], exc
        )
        return False
    return True
