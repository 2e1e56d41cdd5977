"""DVC stage `evaluate`: every trained model -> metrics/<model>.json, metrics/gap_validation.json,
plots/ (appendix C panels, parity, learning curves) and reports/evaluation.md (docs/evaluation.md).
The baselines (training-split mean, composition nearest neighbour), fitted on the split's training ids,
-> metrics/baseline_<name>.json; the primary model's extra seeds (params `seeds`, models/seeds/<s>)
-> metrics/seeds/<s>.json and, with the primary model, metrics/seed_spread.json.

python stages/evaluate.py
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from dosforge.config import ConfigError, known_keys, load_params  # noqa: E402
from dosforge.evaluate import evaluate_models  # noqa: E402
from dosforge.evaluate.baselines import BaselineConfig, run_baselines  # noqa: E402
from dosforge.evaluate.seeds import seed_list, seed_model_dirs  # noqa: E402
from dosforge.grid import EnergyGrid  # noqa: E402
from dosforge.io import read_json  # noqa: E402
from dosforge.shards import ShardError, load_processed  # noqa: E402

EVALUATE_KEYS = ("percentile_step", "panel_columns", "dpi", "mlflow", "baselines")


def model_dirs(params: dict, models_root: Path) -> dict[str, Path]:
    """The primary model, then every ablation variant of params.yaml `ablations` (Table 2 order)."""
    dirs = {"primary": models_root / "primary"}
    dirs.update({name: models_root / "ablations" / name for name in params.get("ablations") or {}})
    return dirs


def hosted_dirs(params: dict, models_root: Path) -> dict[str, Path]:
    """Published models trained as baselines (params `baselines`, stages baseline@<name>)."""
    return {name: models_root / "baselines" / name for name in params.get("baselines") or {}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--processed", default="data/processed")
    ap.add_argument("--split", default="data/split", help="folder with split.json (the baselines' training ids)")
    ap.add_argument("--models", default="models")
    ap.add_argument("--metrics", default="metrics")
    ap.add_argument("--plots", default="plots")
    ap.add_argument("--report", default="reports/evaluation.md")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="evaluate: %(message)s")
    try:
        params = load_params(args.params)
        cfg = known_keys(dict(params.get("evaluate") or {}), EVALUATE_KEYS, "evaluate")
        step = float(cfg.get("percentile_step", 5))
        if not 0 < step <= 100:
            raise ConfigError(f"evaluate.percentile_step={step} is not valid; choose a number in (0, 100]")
        baseline_config = BaselineConfig.from_params(cfg.get("baselines"))
        seeds = seed_list(params)
        seed_dirs = seed_model_dirs(seeds, Path(args.models))
        split_file = Path(args.split) / "split.json"
        if not split_file.is_file():
            raise FileNotFoundError(f"{split_file} not found: run `dvc repro split` first")
        data = load_processed(args.processed)  # ground truth of every material, for the appendix A.4 check
        split = read_json(split_file)
        baselines = run_baselines(data, split, baseline_config)
        source = data.manifest.get("source", sorted(set(data.source)))
        synthetic = bool(data.manifest.get("synthetic", False)) or bool(data.synthetic.any())
        data_info = {"source": source if isinstance(source, str) else ", ".join(source), "synthetic": synthetic}
        if data.manifest.get("spectrum") == "phonon":
            return evaluate_phonon_stage(args, params, data, split, baselines, seed_dirs, data_info, cfg)
        result = evaluate_models(
            model_dirs(params, Path(args.models)),
            EnergyGrid.from_params(params),
            args.metrics,
            args.plots,
            args.report,
            data_info,
            ground_truth={"dos": data.dos, "gap": data.gap, "is_metal": data.is_metal},
            gap_k=float((params.get("loss") or {}).get("gap_k", 10.0)),
            percentiles=_steps(step),
            panel_columns=int(cfg.get("panel_columns", 5)),
            dpi=int(cfg.get("dpi", 100)),
            log_mlflow=bool(cfg.get("mlflow", True)),
            baselines=baselines,
            seed_dirs=seed_dirs,
            primary_seed=params.get("seed"),
            hosted_dirs=hosted_dirs(params, Path(args.models)),
            split_groups={"strategy": split.get("strategy", "point_group"), "groups": split.get("groups") or {}},
        )
    except (ConfigError, ShardError, FileNotFoundError, ValueError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    lines = {**result.baselines, **result.metrics, **result.hosted}  # the floor first
    width = max([16, *map(len, lines)])
    for name, m in lines.items():
        print(
            f"{name:{width}s} DOS WD {_f(m['dos.wd_bins'])}  EPDOS WD {_f(m['epdos.wd_bins'])}"
            f"  E_F {_f(m['fermi.mae_ev'])}  E_g {_f(m['gap.mae_ev'])}  E_g^ext {_f(m['gap.ext_mae_ev'])}"
            f"  (n={m['n_test']})"
        )
    spread = result.seed_spread or {}
    if spread.get("n_runs", 0) >= 2:
        keys = ("dos.wd_bins", "epdos.wd_bins", "fermi.mae_ev", "gap.mae_ev")
        sd = {k: (spread.get(k) or {}).get("std") for k in keys}
        print(
            f"seed spread of primary ({spread['n_runs']} runs, std): DOS WD {_f(sd['dos.wd_bins'])}  "
            f"EPDOS WD {_f(sd['epdos.wd_bins'])}  E_F {_f(sd['fermi.mae_ev'])}  E_g {_f(sd['gap.mae_ev'])}"
            "  (metrics/seed_spread.json)"
        )
    gv = result.gap_validation
    print(
        f"gap extraction on true DOS (n={gv['n']}): Algorithm 1 MAE {_f(gv['algorithm1.mae_ev'])} eV, "
        f"threshold scan {_f(gv['threshold_scan.mae_ev'])} eV (paper, Algorithm 1: 0.056)"
    )
    print(f"report: {args.report}" + ("  [SYNTHETIC labels: not comparable with the paper]" if synthetic else ""))
    return 0


def evaluate_phonon_stage(args, params, data, split, baselines, seed_dirs, data_info, cfg) -> int:
    """Phonon data (manifest `spectrum: phonon`): dosforge.evaluate.phonon_run, one summary line per model."""
    from dosforge.evaluate.phonon_run import evaluate_phonon

    result = evaluate_phonon(
        data, model_dirs=model_dirs(params, Path(args.models)), hosted_dirs=hosted_dirs(params, Path(args.models)),
        seed_dirs=seed_dirs, primary_seed=params.get("seed"), baselines=baselines, metrics_dir=args.metrics,
        plots_dir=args.plots, report_path=args.report, data_info=data_info, split=split,
        dpi=int(cfg.get("dpi", 100)), log_mlflow=bool(cfg.get("mlflow", True)),
    )  # fmt: skip
    for name, m in {**result.baselines, **result.metrics, **result.hosted}.items():
        if m.get("skipped"):
            print(f"{name:16s} not trained: {m['reason']}")
            continue
        print(f"{name:16s} DOS MSE {_f(m['dos.mse'])}  MAE {_f(m['dos.mae'])}  R2 {_f(m['dos.r2'])}"
              f"  WD {_f(m['dos.wd_cm'])} cm-1  EPDOS WD {_f(m['epdos.wd_cm'])} cm-1  (n={m['n_test']})")  # fmt: skip
    label = "  [SYNTHETIC phonon labels (CHGNet + phonopy): not comparable with DFPT]" if data_info["synthetic"] else ""
    print(f"report: {args.report}{label}")
    return 0


def _steps(step: float) -> list[float]:
    """Appendix C: percentiles 0, step, 2 step, ... below 100 (0..95 for the paper's step of 5)."""
    return [round(i * step, 6) for i in range(math.ceil(100 / step))]


def _f(v) -> str:
    return "   –  " if v is None else f"{v:6.3f}"


if __name__ == "__main__":
    sys.exit(main())
