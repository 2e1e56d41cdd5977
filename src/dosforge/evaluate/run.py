"""The evaluate stage's work: for every model directory, metrics JSON, figures and MLflow copy;
then the gap-extraction check on ground truth and the Markdown report.

Inputs per model (written by training): `test_predictions.h5` (`dosforge.predictions.Predictions`),
`history.json` (per-epoch losses and learning rate) and, optionally, `mlflow_run.json`.
Outputs: `<metrics_dir>/<model>.json` (flat, every key of the metric contract, null where a model
lacks the task), `<metrics_dir>/gap_validation.json`, under `<plots_dir>`: `spectra/<model>.png`,
`parity/<model>.png`, `learning_curves/<model>.png`, `curves/<model>.csv` (learning-curve data), and the report.
Baselines (`dosforge.evaluate.baselines`, fitted by the caller) are scored the same way into
`<metrics_dir>/baseline_<name>.json` (spectra and parity figures, no learning curve); extra seeds of the
primary model into `<metrics_dir>/seeds/<s>.json`, aggregated with the primary model in
`<metrics_dir>/seed_spread.json` (`dosforge.evaluate.seeds`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from dosforge.evaluate.gap_validation import validate_gap_extraction
from dosforge.evaluate.groups import group_metrics
from dosforge.evaluate.history import load_history, write_curve_csv
from dosforge.evaluate.plots import (
    APPENDIX_C_PERCENTILES,
    plot_learning_curves,
    plot_parity,
    plot_percentile_panels,
)
from dosforge.evaluate.report import build_report
from dosforge.evaluate.seeds import check_seed_dirs, seed_spread
from dosforge.evaluate.tracking import log_test_metrics
from dosforge.grid import EnergyGrid
from dosforge.io import write_json, write_text
from dosforge.metrics import METRIC_KEYS, TASKS, compute_metrics, json_ready
from dosforge.predictions import Predictions

log = logging.getLogger(__name__)
PREDICTIONS = "test_predictions.h5"
HISTORY = "history.json"
RUN_FILE = "mlflow_run.json"
FIGURE_DIRS = ("spectra", "parity", "learning_curves", "curves")


SEEDS_DIR = "seeds"  # <metrics_dir>/seeds/<s>.json
SEED_SPREAD = "seed_spread.json"


@dataclass
class EvaluationResult:
    metrics: dict[str, dict]  # model -> JSON-ready metric dict, as written
    gap_validation: dict | None
    figures: dict[str, list[Path]] = field(default_factory=dict)
    logged_to_mlflow: dict[str, bool] = field(default_factory=dict)
    baselines: dict[str, dict] = field(default_factory=dict)  # "baseline_<name>" -> metric dict, as written
    seeds: dict[int, dict] = field(default_factory=dict)  # extra seed of the primary model -> metric dict
    seed_spread: dict | None = None  # as written to seed_spread.json
    hosted: dict[str, dict] = field(default_factory=dict)  # hosted published model (baselines:) -> metric dict
    groups: dict | None = None  # as written to groups.json: per held-out group metrics of every model


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


def _score(name: str, path: Path, grid: EnergyGrid) -> tuple[Predictions, dict]:
    """A model's test predictions and its JSON-ready metrics (checked against the tasks it was trained for)."""
    pred = Predictions.load(path)
    tasks = Predictions.load_attrs(path).get("tasks")  # written by dosforge.train: "dos,epdos"
    try:
        return pred, json_ready(compute_metrics(pred, grid, tasks.split(",") if isinstance(tasks, str) else None))
    except ValueError as exc:
        raise ValueError(f"{name} ({path}): {exc}") from exc


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
    baselines: dict | None = None,
    seed_dirs: dict[int, str | Path] | None = None,
    primary_seed: int | None = None,
    hosted_dirs: dict[str, str | Path] | None = None,
    split_groups: dict | None = None,
) -> EvaluationResult:
    """Evaluate every model in `model_dirs` (name -> directory) and write all outputs.

    `ground_truth`, when given, holds `dos` (N, T), `gap` (N,) and `is_metal` (N,) of the
    materials to run the appendix A.4 check on (the stage passes the whole processed data set,
    as the paper did); `data_info` holds the manifest's `source` and `synthetic`.
    `baselines`: name -> `dosforge.evaluate.baselines.Baseline` (scored first, the floor of the report).
    `seed_dirs`: extra seed -> directory of the primary model retrained with that seed; with the
    primary model (seed `primary_seed`) they give `seed_spread.json`, written whenever a primary
    model or a seed is evaluated.
    """
    model_dirs = {name: Path(d) for name, d in model_dirs.items()}
    hosted_dirs = {name: Path(d) for name, d in (hosted_dirs or {}).items()}
    check_model_dirs(hosted_dirs)
    seed_dirs = {int(s): Path(d) for s, d in (seed_dirs or {}).items()}
    check_model_dirs(model_dirs)
    check_seed_dirs(seed_dirs)
    metrics_dir, plots_dir = Path(metrics_dir), Path(plots_dir)
    for sub in FIGURE_DIRS:  # DVC declares these directories as outputs: they exist even when a kind has no figure
        (plots_dir / sub).mkdir(parents=True, exist_ok=True)
    result = EvaluationResult(metrics={}, gap_validation=None)
    notes = {}
    for name, baseline in (baselines or {}).items():
        key = f"baseline_{name}"
        try:
            metrics = json_ready({**compute_metrics(baseline.predictions, grid, TASKS), **baseline.info})
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from exc
        write_json(metrics_dir / f"{key}.json", metrics)
        result.baselines[key] = metrics
        notes[key] = baseline.description
        figures = [
            plot_percentile_panels(
                baseline.predictions, grid, plots_dir / "spectra" / f"{key}.png", percentiles, panel_columns, dpi,
                model_name=key,
            ),
            plot_parity(baseline.predictions, grid, plots_dir / "parity" / f"{key}.png", dpi, model_name=key),
        ]  # fmt: skip
        result.figures[key] = [p for p in figures if p is not None]

    def score_and_plot(name: str, d: Path) -> dict:
        """A trained model's metrics JSON, curves, figures and MLflow copy (DOSForge models and hosted ones alike)."""
        pred, metrics = _score(name, d / PREDICTIONS, grid)
        write_json(metrics_dir / f"{name}.json", metrics)
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
        return metrics

    for name, d in tqdm(model_dirs.items(), desc="evaluate", unit="model"):
        result.metrics[name] = score_and_plot(name, d)
    for name, d in hosted_dirs.items():
        result.hosted[name] = score_and_plot(name, d)
    group_preds = {f"baseline_{n}": b.predictions for n, b in (baselines or {}).items()}
    group_preds.update({name: d / PREDICTIONS for name, d in {**model_dirs, **hosted_dirs}.items()})
    groups_of = (split_groups or {}).get("groups") or {}
    result.groups = {"strategy": (split_groups or {}).get("strategy", "point_group"), "models": {}}
    if groups_of:
        for name, pred in group_preds.items():
            tasks = TASKS  # the trivial baselines predict every task
            if not isinstance(pred, Predictions):
                tasks = Predictions.load_attrs(pred).get("tasks")
                tasks = tasks.split(",") if isinstance(tasks, str) else None
                pred = Predictions.load(pred)
            result.groups["models"][name] = group_metrics(pred, groups_of, grid, tasks)
    write_json(metrics_dir / "groups.json", result.groups)
    seed_runs = _evaluate_seeds(result, seed_dirs, primary_seed, grid, metrics_dir, log_mlflow)
    if ground_truth is not None:
        gv = validate_gap_extraction(ground_truth["dos"], ground_truth["gap"], ground_truth["is_metal"], grid, gap_k)
        result.gap_validation = json_ready(gv)
        write_json(metrics_dir / "gap_validation.json", result.gap_validation)
    report_path = Path(report_path)
    report = build_report(
        result.metrics,
        result.gap_validation,
        data_info,
        list(METRIC_KEYS),
        result.figures,
        report_path.parent,
        grid,
        baselines=result.baselines,
        baseline_notes=notes,
        seed_spread=result.seed_spread,
        seed_runs=seed_runs,
        hosted=result.hosted,
        groups=result.groups,
    )
    write_text(report_path, report)
    return result


def _evaluate_seeds(
    result: EvaluationResult,
    seed_dirs: dict[int, Path],
    primary_seed: int | None,
    grid: EnergyGrid,
    metrics_dir: Path,
    log_mlflow: bool,
) -> dict[str, dict]:
    """Score every extra seed (metrics only: its figures would repeat the primary model's), then the spread.

    Returns the runs behind the spread (label -> metrics), the primary model first.
    """
    seeds_dir = metrics_dir / SEEDS_DIR
    seeds_dir.mkdir(parents=True, exist_ok=True)
    for stale in seeds_dir.glob("*.json"):  # a seed removed from params must not linger in `dvc metrics show`
        if stale.stem.lstrip("-").isdigit() and int(stale.stem) not in seed_dirs:
            stale.unlink()
    for s, d in seed_dirs.items():
        _, metrics = _score(f"seed {s}", d / PREDICTIONS, grid)
        write_json(seeds_dir / f"{s}.json", metrics)
        result.seeds[s] = metrics
        if log_mlflow:
            result.logged_to_mlflow[f"seed {s}"] = log_test_metrics(d / RUN_FILE, metrics, [seeds_dir / f"{s}.json"])
    runs = {}
    if "primary" in result.metrics:
        runs[f"primary (seed {primary_seed})" if primary_seed is not None else "primary"] = result.metrics["primary"]
    runs.update({f"seed {s}": m for s, m in result.seeds.items()})
    if runs:
        result.seed_spread = seed_spread(runs)
        write_json(metrics_dir / SEED_SPREAD, result.seed_spread)
    return runs
