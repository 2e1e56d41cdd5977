"""`dosforge predict --format parquet`: the command-line side of batch prediction (`dosforge.predict.batch`)."""

from __future__ import annotations

import argparse
import sys

from dosforge.cli import EXIT_OK, EXIT_SOME_FAILED, _usage_error


def predict_batch(args: argparse.Namespace) -> int:
    from dosforge.predict import CheckpointError, load_model
    from dosforge.predict.batch import (
        BatchError,
        BatchOptions,
        finalize,
        rank_device,
        run_rank,
        run_submitit,
        start,
        torchrun_rank,
    )
    from dosforge.predict.shard_plan import ShardPlan, list_input_files, read_list_file

    if args.plots:
        return _usage_error("--plots is for --format json (small jobs); plot rows of the Parquet parts yourself")
    if args.shard_size < 1 or args.graph_workers < 0 or args.tasks < 1:
        return _usage_error("--shard-size and --tasks must be >= 1, --graph-workers >= 0")
    specs = list(args.inputs)
    if args.input_list:
        try:
            specs += read_list_file(args.input_list)
        except OSError as exc:
            return _usage_error(f"cannot read --input-list {args.input_list}: {exc}")
    if not specs:
        return _usage_error("name at least one input (files, folders, globs or --input-list)")
    files, skipped = list_input_files(specs)
    options = BatchOptions(
        checkpoint=args.checkpoint,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        primitive=not args.keep_cell,
        max_atoms=args.max_atoms,
        rescale_epdos=args.rescale_epdos,
        device=args.device,
        threads=args.threads,
        graph_workers=args.graph_workers,
        progress=not args.quiet,
    )
    rank, world = torchrun_rank()
    try:
        # the array tasks load the model themselves; here it is read for its hash, which fixes the run
        device = "cpu" if args.executor == "submitit" else rank_device(args.device)
        predictor = load_model(args.checkpoint, device=device)
        predictor.check_options(args.batch_size, args.rescale_epdos)
        start(args.out, ShardPlan(files, args.shard_size, skipped), options, predictor.info.sha256)
        if args.executor == "submitit":
            slurm = {"timeout_min": args.slurm_time_min}
            if args.slurm_partition:
                slurm["slurm_partition"] = args.slurm_partition
            if args.slurm_gpus:
                slurm["gpus_per_node"] = args.slurm_gpus
            run_submitit(args.out, options, args.tasks, slurm)
        else:
            run_rank(args.out, options, rank, world, predictor=predictor)
        meta = finalize(args.out, predictor.info)
    except (CheckpointError, BatchError, ValueError, RuntimeError) as exc:
        return _usage_error(str(exc))
    if meta is None:  # under torchrun, another rank is still at work; the last one writes metadata.json
        print(f"rank {rank}/{world}: its shards are written to {args.out}; other ranks are still running")
        return EXIT_OK
    counts = meta["counts"]
    note = " [checkpoint trained on SYNTHETIC tight-binding labels]" if meta["synthetic_labels"] else ""
    if not args.quiet:
        for s in skipped:
            print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
    print(
        f"predicted {counts['predicted']}/{counts['inputs']} structures{note}; wrote {len(meta['parts'])} Parquet "
        f"part(s) and metadata.json to {args.out} (failed rows carry their reason in `error`)"
    )
    return EXIT_SOME_FAILED if counts["failed"] else EXIT_OK
