"""The `dosforge` command line. `dosforge predict --help` documents the prediction command.

Exit codes of `dosforge predict`:
  0  every structure was predicted
  1  some structures failed (each with its reason in the output); the others were predicted and written
  2  usage or checkpoint error (bad arguments, checkpoint missing or unreadable, device unavailable,
     or nothing to predict); nothing was written
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from dosforge import __version__
    from dosforge.predict import DEFAULT_CHECKPOINT, DEFAULT_MAX_ATOMS

    parser = argparse.ArgumentParser(prog="dosforge", description="DOSForge: DOS, EPDOS, E_F and E_g from structure.")
    parser.add_argument("--version", action="version", version=f"dosforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "predict",
        help="predict DOS, EPDOS, Fermi level and band gap for structures",
        description=(
            "Predict DOS, EPDOS per element, Fermi level and band gap for CIF, POSCAR/CONTCAR and pymatgen "
            "Structure JSON files, folders, globs and Materials Project ids (mp-NNN, needs MP_API_KEY). "
            "Writes <out>/predictions.json, <out>/predictions.csv and, with --plots, <out>/plots/*.png; with "
            "--format parquet, one resumable Parquet part per input shard plus <out>/metadata.json."
        ),
        epilog=(
            "exit codes: 0 all predicted; 1 some structures failed (reasons in the output, the rest written); "
            "2 usage or checkpoint error (nothing written)"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", help="structure files, folders, globs (quote them) or MP ids")
    p.add_argument("--checkpoint", "-c", default=DEFAULT_CHECKPOINT, help="trained checkpoint (.pt)")
    p.add_argument("--out", "-o", default="predictions", help="output folder")
    p.add_argument("--batch-size", type=int, default=32, help="structures per forward pass")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when available)")
    p.add_argument("--plots", action="store_true", help="also write a PNG of the DOS and EPDOS per structure")
    p.add_argument(
        "--max-atoms",
        type=int,
        default=DEFAULT_MAX_ATOMS,
        help="reject cells the model would see with more sites (time/memory limit, docs/predict.md)",
    )
    p.add_argument(
        "--keep-cell",
        action="store_true",
        help="feed each cell as given instead of its primitive cell (see docs/predict.md)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (fixed so the same command gives the same numbers; 1 is fastest for the "
        "default small model on 2 cores, see docs/predict.md; raise it for the paper-size model on many cores)",
    )
    p.add_argument(
        "--rescale-epdos",
        action="store_true",
        help="rescale the element DOS in every energy bin so that they sum to the predicted total DOS "
        "(post-processing, off by default; stated in the output metadata, see docs/predict.md)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or per-structure messages")
    b = p.add_argument_group("batch mode (--format parquet, docs/predict.md: Batch prediction)")
    b.add_argument(
        "--format",
        choices=("json", "parquet"),
        default="json",
        help="json: predictions.json + predictions.csv (small jobs); parquet: one Parquet part per input shard "
        "plus metadata.json, resumable (rerun the same command), for many structures",
    )
    b.add_argument("--input-list", help="a text file naming one input (file, folder or glob) per line")
    b.add_argument("--shard-size", type=int, default=1000, help="input files per shard (one Parquet part each)")
    b.add_argument("--graph-workers", type=int, default=2, help="DataLoader processes building crystal graphs")
    b.add_argument(
        "--executor",
        choices=("local", "submitit"),
        default="local",
        help="local: this process (under torchrun, rank r of W takes shards k %% W == r); submitit: a SLURM "
        "array of --tasks tasks (submitit's local executor where SLURM is absent)",
    )
    b.add_argument("--tasks", type=int, default=1, help="array tasks with --executor submitit")
    b.add_argument("--slurm-partition", help="SLURM partition for --executor submitit")
    b.add_argument("--slurm-time-min", type=int, default=60, help="time limit per array task (minutes)")
    b.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per array task")
    add_fanout_parser(sub)
    return parser


def add_fanout_parser(sub) -> None:
    f = sub.add_parser(
        "fanout",
        help="train DVC stages (the ablation table, seed@ stages) concurrently, N at a time; then evaluate",
        description=(
            "Run `dvc --wait-for-lock repro -s <stage>` for every stage of the targets, N at a time, one device "
            "each, in this workspace (or as a SLURM job array through submitit), behind one `mlflow server`; then "
            "`dvc repro` the --then stages. Shared upstream stages (preprocess, split) run first, once. "
            'See docs/training.md "Several devices".'
        ),
        epilog="exit codes: 0 all stages ran; 1 a stage failed (its log is named); 2 usage error",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    f.add_argument("targets", nargs="*", default=["ablate"], help="stage groups (ablate, seed) or names (train)")
    f.add_argument("--jobs", "-j", type=int, default=None, help="stages at a time (default: one per device, else 1)")
    f.add_argument("--devices", default=None, help="comma-separated GPU ids, one per slot, e.g. 0,1,2,3")
    f.add_argument(
        "--executor",
        choices=["local", "submitit"],
        default="local",
        help="local: this machine; submitit: a SLURM job array (submitit's local executor without SLURM)",
    )
    f.add_argument("--then", default="evaluate", help="comma-separated stages to `dvc repro` after ('' = none)")
    f.add_argument("--root", default=".", help="the DVC project")
    f.add_argument(
        "--no-mlflow-server",
        action="store_true",
        help="no server: stages log to MLFLOW_TRACKING_URI or their sqlite default directly (may lock)",
    )
    f.add_argument(
        "--slurm", action="append", default=[], metavar="KEY=VALUE", help="submitit parameter, e.g. slurm_partition=gpu"
    )


def main(argv: Sequence[str] | None = None, mp_client_factory: Callable[[], Any] | None = None) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage and 0 on --help/--version
        return int(exc.code or 0)
    if args.command == "predict":
        return predict_command(args, mp_client_factory)
    if args.command == "fanout":
        return fanout_command(args)
    parser.error(f"unknown command {args.command}")  # pragma: no cover - argparse rejects it first
    return EXIT_USAGE


def predict_command(args: argparse.Namespace, mp_client_factory: Callable[[], Any] | None = None) -> int:
    if args.batch_size < 1 or args.max_atoms < 1 or args.threads < 1:
        return _usage_error("--batch-size, --max-atoms and --threads must be >= 1")
    if args.format == "parquet":
        from dosforge.predict.batch_command import predict_batch

        return predict_batch(args)
    if args.input_list or args.executor != "local":
        return _usage_error("--input-list and --executor need --format parquet")
    if not args.inputs:
        return _usage_error("name at least one input (file, folder, glob or MP id)")
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _predict(args, mp_client_factory)
    finally:
        torch.set_num_threads(previous_threads)  # main() may be called in-process (tests, notebooks)


def _predict(args: argparse.Namespace, mp_client_factory: Callable[[], Any] | None) -> int:
    from dosforge.predict import CheckpointError, load_model, resolve_inputs
    from dosforge.predict.output import write_run
    from dosforge.predict.result import PredictionFailure

    try:
        predictor = load_model(args.checkpoint, device=args.device)
    except (CheckpointError, RuntimeError) as exc:
        return _usage_error(str(exc))
    inputs, skipped = resolve_inputs(args.inputs, mp_client_factory=mp_client_factory)
    if not inputs:
        return _usage_error("no structures found in the given inputs")
    try:
        outcomes = predictor.run(
            inputs,
            batch_size=args.batch_size,
            primitive=not args.keep_cell,
            max_atoms=args.max_atoms,
            progress=not args.quiet,
            rescale_epdos=args.rescale_epdos,
        )
    except ValueError as exc:  # an option the checkpoint cannot serve (e.g. --rescale-epdos without EPDOS)
        return _usage_error(str(exc))
    paths = write_run(
        args.out,
        outcomes,
        predictor.info,
        skipped=skipped,
        plots=args.plots,
        device=str(predictor.device),
        primitive_cell=not args.keep_cell,
        max_atoms=args.max_atoms,
        threads=args.threads,
        rescale_epdos=args.rescale_epdos,
    )
    failures = [o for o in outcomes if isinstance(o, PredictionFailure)]
    if not args.quiet:
        for f in failures:
            print(f"FAILED {f.id} ({f.source}): {f.reason}", file=sys.stderr)
        for s in skipped:
            print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
    n_ok = len(outcomes) - len(failures)
    note = " [checkpoint trained on SYNTHETIC tight-binding labels]" if predictor.info.synthetic else ""
    print(
        f"predicted {n_ok}/{len(outcomes)} structures{note}; wrote {paths['json']} and {paths['csv']}"
        + (f" (+{len(paths) - 2} plots)" if args.plots else "")
    )
    return EXIT_SOME_FAILED if failures else EXIT_OK


def fanout_command(args: argparse.Namespace) -> int:
    import json

    from dosforge.launch import FanoutError, fanout

    devices = [d.strip() for d in args.devices.split(",") if d.strip()] if args.devices else None
    slurm = {}
    for item in args.slurm:
        key, sep, value = item.partition("=")
        if not sep:
            return _usage_error(f"--slurm takes KEY=VALUE, got {item!r}", "fanout")
        slurm[key] = int(value) if value.isdigit() else value
    try:
        summary = fanout(
            args.targets, root=args.root, jobs=args.jobs, devices=devices, executor=args.executor,
            then=[s for s in args.then.split(",") if s], mlflow=not args.no_mlflow_server, slurm=slurm,
        )  # fmt: skip
    except FanoutError as exc:
        print(f"dosforge fanout: error: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    print(json.dumps({k: summary[k] for k in ("executor", "jobs", "wall_seconds")}))
    for run in summary["stages"]:
        print(f"{run['stage']}: {run['seconds']:.1f} s  (log {run['log']})")
    return EXIT_OK


def _usage_error(message: str, command: str = "predict") -> int:
    print(f"dosforge {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
