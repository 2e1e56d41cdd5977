"""The evaluate stage on phonon data (manifest `spectrum: phonon`): the same outputs as on electrons, phonon metrics.

Every model directory of the stage (primary, ablation variants, extra seeds, hosted DOSTransformer) and both trivial
baselines are scored with `phonon_metrics` into metrics/<name>.json; a variant that training skipped (fermi/gap tasks,
skipped.json) gets {"skipped": true, "reason"} instead. Figures: spectra panels (plots/spectra), the 3N mode parity
(plots/parity), learning curves (plots/learning_curves, plots/curves). The electron-only outputs the stage declares
(gap_validation.json, groups.json) say why they are empty. The report (phonon_report.py) puts the baselines first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dosforge.evaluate.history import load_history, write_curve_csv
from dosforge.evaluate.phonon_metrics import frequencies, mode_ratios, phonon_metrics, step_of
from dosforge.evaluate.phonon_plots import plot_mode_parity, plot_phonon_panels
from dosforge.evaluate.phonon_report import build_phonon_report
from dosforge.evaluate.plots import plot_learning_curves
from dosforge.evaluate.run import FIGURE_DIRS, HISTORY, PREDICTIONS, RUN_FILE, SEED_SPREAD, SEEDS_DIR, EvaluationResult
from dosforge.evaluate.seeds import seed_spread
from dosforge.evaluate.tracking import log_test_metrics
from dosforge.io import read_json, write_json, write_text
from dosforge.predictions import Predictions
from dosforge.train.phonon import SKIPPED


class PhononScorer:
    """Scores Predictions of phonon data: knows each material's normalisation scale and site count."""

    def __init__(self, data):
        manifest = data.manifest
        self.grid = dict(manifest["grid"])
        self.freqs, self.step = frequencies(self.grid), step_of(self.grid)
        scales = manifest.get("scale") or {}
        self.index = {m: i for i, m in enumerate(data.ids)}
        self.scale = np.array([float(scales.get(m, 1.0)) for m in data.ids])
        self.n_sites = np.diff(np.asarray(data.atom_ptr)).astype(float)

    def rows(self, pred) -> np.ndarray:
        return np.array([self.index[m] for m in pred.ids], dtype=np.int64)

    def metrics(self, pred, tasks=None) -> dict:
        r = self.rows(pred)
        return phonon_metrics(pred, self.grid, self.scale[r], self.n_sites[r], tasks)

    def ratios(self, pred, which: str) -> np.ndarray:
        r = self.rows(pred)
        return mode_ratios(getattr(pred, which), self.scale[r], self.n_sites[r], self.step)


def _tasks(path: Path):
    tasks = Predictions.load_attrs(path).get("tasks")
    return tasks.split(",") if isinstance(tasks, str) else None


def evaluate_phonon(data, *, model_dirs: dict, hosted_dirs: dict, seed_dirs: dict, primary_seed, baselines: dict,
                    metrics_dir, plots_dir, report_path, data_info: dict, split: dict, dpi: int = 100,
                    log_mlflow: bool = True) -> EvaluationResult:  # fmt: skip
    scorer = PhononScorer(data)
    metrics_dir, plots_dir = Path(metrics_dir), Path(plots_dir)
    for sub in FIGURE_DIRS:
        (plots_dir / sub).mkdir(parents=True, exist_ok=True)
    result = EvaluationResult(metrics={}, gap_validation=None)
    skipped: dict[str, str] = {}

    def figures(name: str, pred, rows=None) -> list[Path]:
        made = [
            plot_phonon_panels(pred, scorer.freqs, plots_dir / "spectra" / f"{name}.png", dpi=dpi, model_name=name),
            plot_mode_parity(
                scorer.ratios(pred, "dos_true"),
                scorer.ratios(pred, "dos_pred"),
                plots_dir / "parity" / f"{name}.png",
                dpi,
                name,
            ),
        ]  # fmt: skip  (None without a DOS)
        if rows is not None:
            write_curve_csv(rows, plots_dir / "curves" / f"{name}.csv")
            made.append(plot_learning_curves(rows, plots_dir / "learning_curves" / f"{name}.png", dpi, name))
        return [p for p in made if p is not None]

    for name, baseline in baselines.items():
        key = f"baseline_{name}"
        result.baselines[key] = {**scorer.metrics(baseline.predictions, ("dos", "epdos")), **baseline.info}
        write_json(metrics_dir / f"{key}.json", result.baselines[key])
        result.figures[key] = figures(key, baseline.predictions)

    def score(name: str, d: Path) -> dict:
        if (d / SKIPPED).is_file():
            info = read_json(d / SKIPPED)
            skipped[name] = info.get("reason", "skipped by training")
            return {"skipped": True, "reason": skipped[name]}
        pred = Predictions.load(d / PREDICTIONS)
        metrics = scorer.metrics(pred, _tasks(d / PREDICTIONS))
        result.figures[name] = figures(name, pred, load_history(d / HISTORY))
        if log_mlflow:
            numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
            result.logged_to_mlflow[name] = log_test_metrics(d / RUN_FILE, numbers, result.figures[name])
        return metrics

    for name, d in model_dirs.items():
        result.metrics[name] = score(name, Path(d))
        write_json(metrics_dir / f"{name}.json", result.metrics[name])
    for name, d in hosted_dirs.items():
        result.hosted[name] = score(name, Path(d))
        write_json(metrics_dir / f"{name}.json", result.hosted[name])
    seeds_dir = metrics_dir / SEEDS_DIR
    seeds_dir.mkdir(parents=True, exist_ok=True)
    for s, d in seed_dirs.items():
        pred = Predictions.load(Path(d) / PREDICTIONS)
        result.seeds[int(s)] = scorer.metrics(pred, _tasks(Path(d) / PREDICTIONS))
        write_json(seeds_dir / f"{s}.json", result.seeds[int(s)])
    runs = {}
    if "primary" in result.metrics and not result.metrics["primary"].get("skipped"):
        runs[f"primary (seed {primary_seed})"] = result.metrics["primary"]
    runs.update({f"seed {s}": m for s, m in result.seeds.items()})
    numeric = {label: {k: v for k, v in m.items() if k != "null_reasons"} for label, m in runs.items()}
    result.seed_spread = seed_spread(numeric) if numeric else None
    if result.seed_spread:
        write_json(metrics_dir / SEED_SPREAD, result.seed_spread)
    result.gap_validation = {"skipped": True, "reason": "phonon DOS: no band gap to extract"}
    write_json(metrics_dir / "gap_validation.json", result.gap_validation)
    result.groups = {"strategy": split.get("strategy", "point_group"), "models": {},
                     "note": "per-group metrics are computed for electron DOS only"}  # fmt: skip
    write_json(metrics_dir / "groups.json", result.groups)
    report = build_phonon_report(result, skipped, data_info, data.manifest, Path(report_path).parent)
    write_text(report_path, report)
    return result
