"""DVC stages `train` (the primary model) and `ablate@<variant>` (one variant of the paper's Table 2).

    python stages/train.py                     # models/primary/        (params: model, train, loss, seed)
    python stages/train.py --variant cross2    # models/ablations/cross2/ (ablations.cross2 overrides model)
    python stages/train.py --seed 43           # models/seeds/43/ (the primary model's configuration, seed 43)

With `model.init: pretrained` the encoder starts from models/pretrain/encoder.pt (stages/pretrain.py).
A run killed mid-way resumes from its `last.pt` when started again with the same params, data and code.

Several processes (docs/training.md "Several devices"): `DOSFORGE_NPROC=8 dvc repro train` (or torchrun's own
`PET_NPROC_PER_NODE=8`) makes this script relaunch itself under torchrun (`torch.distributed.run`, `--standalone`
on one node), one process per device; under `srun torchrun ...` it is already a torchrun worker and just joins.
The process count lives in the environment, never in params.yaml/dvc.yaml: results do not depend on it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from dosforge.config import ConfigError, load_params  # noqa: E402  (light: the training imports wait, below)


def torchrun_args(environ=os.environ) -> list[str] | None:
    """torchrun options for relaunching this script, or None to run in this process.

    None when already a torchrun worker (LOCAL_RANK set) or when no process count is asked for."""
    if "LOCAL_RANK" in environ or "TORCHELASTIC_RUN_ID" in environ:
        return None
    nproc = environ.get("DOSFORGE_NPROC")
    if nproc is not None:
        if not nproc.isdigit() or int(nproc) < 1:
            raise ConfigError(f"DOSFORGE_NPROC must be a positive integer, got {nproc!r}")
        if int(nproc) == 1:
            return None
        args = [f"--nproc-per-node={int(nproc)}"]
    elif environ.get("PET_NPROC_PER_NODE"):
        args = []  # torchrun reads PET_NPROC_PER_NODE (and any other PET_ option) itself
    else:
        return None
    multi_node = environ.get("PET_NNODES", "1") not in ("1", "1:1") or "PET_RDZV_ENDPOINT" in environ
    # --standalone: a free local rendezvous port, so several trainings on one host do not clash (port 29500)
    return args if multi_node else ["--standalone", *args]


def relaunch(args: list[str], argv: list[str]) -> int:
    from torch.distributed.run import main as torchrun

    try:
        torchrun([*args, str(Path(__file__).resolve()), *argv])
    except Exception as exc:  # noqa: BLE001 - torchrun's ChildFailedError names the failed ranks and their logs
        print(f"error: training under torchrun failed: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        launch = torchrun_args()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if launch is not None:
        return relaunch(launch, argv)
    from dosforge.train import distributed  # after the relaunch decision: the launcher need not import training

    try:
        return train(argv)
    finally:
        distributed.shutdown()


def train(argv: list[str]) -> int:
    from dosforge.train import distributed
    from dosforge.train.loop import TrainingDiverged
    from dosforge.train.run import run_training
    from dosforge.train.tracking import Tracker

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
        distributed.setup((params.get("train") or {}).get("device") or "auto")
        tracker = None if args.no_mlflow or not distributed.is_main() else Tracker()  # one MLflow run, rank 0's
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
    if not distributed.is_main():
        return 0
    if summary.get("skipped"):
        print(f"{summary['name']}: not trained ({summary['reason']}); wrote {out}/skipped.json")
        return 0
    print(
        f"{summary['name']}: best epoch {summary['best_epoch']}/{summary['epochs']} "
        f"({summary['selection_rule']} = {summary['best_score']:.4f}); wrote {out}/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
