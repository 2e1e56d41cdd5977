"""The evaluate stage's work: for every model directory, metrics JSON, figures and MLflow copy;
then the gap-extraction check on ground truth and the Markdown report.

Inputs per model (written by training): `test_predictions.h5` (`dosforge.predictions.Predictions`),
`history.json` (per-epoch losses and learning rate) and, optionally, `mlflow_run.json`.
Outputs: `<metrics_dir>/<model>.json` (flat, every key of the metric contract, null where a model
lacks the task), `<metrics_dir>/gap_validation.json`, under `<plots_dir>`: `spectra/<model>.png`,
`parity/<model>.png`, `learning_curves/<model>.png`, `curves/<model>.csv` (learning-curve data), and the report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from dosforge.evaluate.gap_validation import validate_gap_extraction
from dosforge.evaluate.history import load_history, write_curve_csv
from dosforge.evaluate.plots import (
    APPENDIX_C_PERCENTILES,
    plot_learning_curves,
    plot_parity,
    plot_percentile_panels,
)
from dosforge.evaluate.report import build_report
from dosforge.evaluate.tracking import log_test_metrics
from dosforge.grid import EnergyGrid
from dosforge.io import write_json, write_text
from dosforge.metrics import CONTRACT_KEYS, DIAGNOSTIC_KEYS, compute_metrics, json_ready
from dosforge.predictions import Predictions

log = logging.getLogger(__name__)
PREDICTIONS = "test_predictions.h5"
HISTORY = "history.json"
RUN_FILE = "mlflow_run.json"
FIGURE_DIRS = ("spectra", "parity", "learning_curves", "curves")


@dataclass
class EvaluationResult:
    metrics: dict[str, dict]  # model -> JSON-ready metric dict, as written
    gap_validation: dict | None
    figures: dict[str, list[Path]] = field(default_factory=dict)
    logged_to_mlflow: dict[str, bool] = field(default_factory=dict)


def check_model_dirs(model_dirs: dict[str, Path]) -> None:
    """Fail early, naming every model whose predictions or history are missing."""
    missing = [
        f"{name}: {Path(d) / f}"
        for name, d in model_dirs.items()
        for f in (PREDICTIONS, HISTORY)
        if not (Path(d) / f).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            "missing model outputs (run `dvc repro train` / `dvc repro ablate` first):\n  " + "\n  ".join(missing)
        )


def evaluate_models(
    model_dirs: dict[str, str | Path],
    grid: EnergyGrid,
    metrics_dir: str | Path,
    plots_dir: str | Path,
    report_path: str | Path,
    data_info: dict,
    ground_truth: dict | None = None,
    gap_k: float = 10.0,
    percentiles: Sequence[float] = APPENDIX_C_PERCENTILES,
    panel_columns: int = 5,
    dpi: int = 100,
    log_mlflow: bool = True,
) -> EvaluationResult:
    """Evaluate every model in `model_dirs` (name -> directory) and write all outputs.

    `ground_truth`, when given, holds `dos` (N, T), `gap` (N,) and `is_metal` (N,) of the
    materials to run the appendix A.4 check on (the stage passes the whole processed data set,
    as the paper did); `data_info` holds the manifest's `source` and `synthetic`.
    """
    model_dirs = {name: Path(d) for name, d in model_dirs.items()}
    check_model_dirs(model_dirs)
    metrics_dir, plots_dir = Path(metrics_dir), Path(plots_dir)
    for sub in FIGURE_DIRS:  # DVC declares these directories as outputs: they exist even when a kind has no figure
        (plots_dir / sub).mkdir(parents=True, exist_ok=True)
    result = EvaluationResult(metrics={}, gap_validation=None)
    for name, d in tqdm(model_dirs.items(), desc="evaluate", unit="model"):
        pred = Predictions.load(d / PREDICTIONS)
        tasks = Predictions.load_attrs(d / PREDICTIONS).get("tasks")  # written by dosforge.train: "dos,epdos"
        try:
            metrics = json_ready(compute_metrics(pred, grid, tasks.split(",") if isinstance(tasks, str) else None))
        except ValueError as exc:
            raise ValueError(f"{name} ({d / PREDICTIONS}): {exc}") from exc
        write_json(metrics_dir / f"{name}.json", metrics)
        result.metrics[name] = metrics
        rows = load_history(d / HISTORY)
        write_curve_csv(rows, plots_dir / "curves" / f"{name}.csv")
        figures = [
            plot_percentile_panels(
                pred, grid, plots_dir / "spectra" / f"{name}.png", percentiles, panel_columns, dpi, model_name=name
            ),
            plot_parity(pred, grid, plots_dir / "parity" / f"{name}.png", dpi, model_name=name),
            plot_learning_curves(rows, plots_dir / "learning_curves" / f"{name}.png", dpi, model_name=name),
        ]
        result.figures[name] = [p for p in figures if p is not None]
        if log_mlflow:
            artifacts = [metrics_dir / f"{name}.json", *result.figures[name]]
            result.logged_to_mlflow[name] = log_test_metrics(d / RUN_FILE, metrics, artifacts)
    if ground_truth is not None:
        gv = validate_gap_extraction(ground_truth["dos"], ground_truth["gap"], ground_truth["is_metal"], grid, gap_k)
        result.gap_validation = json_ready(gv)
        write_json(metrics_dir / "gap_validation.json", result.gap_validation)
    report_path = Path(report_path)
    report = build_report(
        result.metrics,
        result.gap_validation,
        data_info,
        list(CONTRACT_KEYS + DIAGNOSTIC_KEYS),
        result.figures,
        report_path.parent,
        grid,
    )
    write_text(report_path, report)
    return result
