"""DVC stage `baseline@<name>`: a published model hosted as a baseline on DOSForge's protocol (same processed data,
grid, split and normalisation), params `baselines.<name>` -> models/baselines/<name>/ (best.pt naming its family,
history.json, summary.json, test_predictions.h5). docs/dostransformer.md.

python stages/baseline.py dostransformer
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from dosforge.config import ConfigError, load_params  # noqa: E402
from dosforge.families import baseline_family  # noqa: E402
from dosforge.shards import ShardError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", help="a key of params.yaml `baselines`")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--processed", default="data/processed")
    ap.add_argument("--split", default="data/split")
    ap.add_argument("--out", default=None, help="default: models/baselines/<name>")
    ap.add_argument("--no-mlflow", action="store_true")
    args = ap.parse_args(argv)
    try:
        params = load_params(args.params)
        family = baseline_family(params, args.name)
        tracker = None
        if not args.no_mlflow:
            from dosforge.train.tracking import Tracker

            tracker = Tracker()
        summary = family.train(
            params,
            args.name,
            processed_dir=args.processed,
            split_dir=args.split,
            out_dir=Path(args.out or f"models/baselines/{args.name}"),
            tracker=tracker,
            log=lambda msg: print(msg, flush=True),
        )
    except (ConfigError, ShardError, FileNotFoundError, ValueError) as exc:
        print(f"baseline {args.name}: {exc}", file=sys.stderr)
        return 2
    print(
        f"baseline {args.name}: best epoch {summary['best_epoch']}/{summary['epochs_run']}, val RMSE "
        f"{summary['best_score']:.4f}, {summary['train_seconds']:.0f} s training, n_test {summary['n_test']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
