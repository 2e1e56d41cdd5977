"""DVC stages `train` (the primary model) and `ablate@<variant>` (one variant of the paper's Table 2).

    python stages/train.py                     # models/primary/        (params: model, train, loss, seed)
    python stages/train.py --variant cross2    # models/ablations/cross2/ (ablations.cross2 overrides model)
    python stages/train.py --seed 43           # models/seeds/43/ (the primary model's configuration, seed 43)

With `model.init: pretrained` the encoder starts from models/pretrain/encoder.pt (stages/pretrain.py).
A run killed mid-way resumes from its `last.pt` when started again with the same params, data and code.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from dosforge.config import ConfigError, load_params  # noqa: E402
from dosforge.train.loop import TrainingDiverged  # noqa: E402
from dosforge.train.run import run_training  # noqa: E402
from dosforge.train.tracking import Tracker  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default=None, help="an ablation variant (a key of params.yaml `ablations:`)")
    ap.add_argument("--seed", type=int, default=None, help="train the primary configuration with this seed instead")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--processed", default="data/processed")
    ap.add_argument("--split", default="data/split")
    ap.add_argument("--pretrain", default="models/pretrain", help="the pretrain stage's output (model.init=pretrained)")
    ap.add_argument("--out", default=None, help="default: models/primary or models/ablations/<variant>")
    ap.add_argument("--no-mlflow", action="store_true", help="train without an MLflow run")
    args = ap.parse_args(argv)

    try:
        params = load_params(args.params)
        if args.seed is not None and args.variant:
            raise ConfigError("--seed retrains the primary model's configuration; it cannot be combined with --variant")
        default_out = "models/primary"
        if args.variant:
            default_out = f"models/ablations/{args.variant}"
        elif args.seed is not None:
            default_out = f"models/seeds/{args.seed}"
        out = Path(args.out or default_out)
        tracker = None if args.no_mlflow else Tracker()
        summary = run_training(
            params,
            processed_dir=args.processed,
            split_dir=args.split,
            out_dir=out,
            variant=args.variant,
            seed=args.seed,
            tracker=tracker,
            pretrain_dir=args.pretrain,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{summary['name']}: best epoch {summary['best_epoch']}/{summary['epochs']} "
        f"({summary['selection_rule']} = {summary['best_score']:.4f}); wrote {out}/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
