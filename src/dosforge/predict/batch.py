"""Batch prediction over many structure files: Parquet parts per input shard, resumable, on any executor.

    dosforge predict IN/ --format parquet --out OUT/ [--graph-workers 4] [--shard-size 1000]
    torchrun --standalone --nproc-per-node=G -m dosforge.cli predict IN/ --format parquet --out OUT/
    dosforge predict IN/ --format parquet --out OUT/ --executor submitit --tasks 32   # SLURM array

The unit of work is one input shard (`dosforge.predict.shard_plan`): process `rank` of `world` takes
shards k % world == rank and writes `part-<k>` (`dosforge.predict.parquet_parts`); no process talks to
another (notes/distributed.md section 3.5: torchrun and SLURM only launch). Each process, once its shards
are done, writes `metadata.json` if every part is finished (so the last one to finish does), and its
content does not depend on who writes it. The
run's inputs and options are fixed in `batch.json` at the first start; a rerun with the same command
skips finished parts and redoes missing, partial or damaged ones. Outputs do not depend on the executor,
the number of processes or of graph workers (tests/predict/test_batch_predict.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from dosforge.io import read_json, write_json, write_text
from dosforge.predict.parquet_parts import by_z, finished_sidecar, outcome_row, part_paths, write_part
from dosforge.predict.shard_plan import InputFile, ShardPlan

FORMAT = "dosforge-batch-1"
PLAN_FILE, INPUTS_FILE, METADATA_FILE = "batch.json", "inputs.tsv", "metadata.json"


class BatchError(RuntimeError):
    """The output folder holds another run, or the run cannot start; the message says what to do."""


@dataclass(frozen=True)
class BatchOptions:
    """What the numbers depend on (the run key) plus how to run (device, threads, workers: not in the key)."""

    checkpoint: str
    batch_size: int = 32
    shard_size: int = 1000
    primitive: bool = True
    max_atoms: int = 500
    rescale_epdos: bool = False
    device: str = "auto"
    threads: int = 1
    graph_workers: int = 0
    progress: bool = True

    def keyed(self) -> dict:
        return {k: getattr(self, k) for k in ("batch_size", "shard_size", "primitive", "max_atoms", "rescale_epdos")}


def start(out_dir: str | Path, plan: ShardPlan, options: BatchOptions, checkpoint_sha256: str) -> dict:
    """Write (or check) `batch.json` and `inputs.tsv`: the run's inputs and options, fixed at the first start.

    Every process of a run computes the same plan and writes the same bytes, so no process has to go first.
    """
    out_dir = Path(out_dir)
    record = {
        "format": FORMAT,
        "checkpoint": options.checkpoint,
        "checkpoint_sha256": checkpoint_sha256,
        "options": options.keyed(),
        "run_key": _sha256_json({"checkpoint_sha256": checkpoint_sha256, **options.keyed()}),
        "n_inputs": len(plan.files),
        "n_shards": plan.n_shards,
        "inputs_sha256": plan.files_sha256(),
        "skipped": plan.skipped,
    }
    path = out_dir / PLAN_FILE
    if path.exists():
        old = read_json(path)
        if any(old.get(k) != record[k] for k in ("format", "run_key", "inputs_sha256", "n_inputs")):
            raise BatchError(
                f"{out_dir} holds a batch run over other inputs, checkpoint or options ({path}); "
                "resume it with the same command, or write to a new --out folder"
            )
        if old == record:
            return record
    write_text(out_dir / INPUTS_FILE, "".join(f.line() + "\n" for f in plan.files))
    write_json(path, record)
    return record


def load_plan(out_dir: str | Path) -> tuple[ShardPlan, dict]:
    """The plan `start` fixed in `out_dir` (what an array task reads instead of listing the inputs again)."""
    out_dir = Path(out_dir)
    record = read_json(out_dir / PLAN_FILE)
    files = []
    for line in (out_dir / INPUTS_FILE).read_text(encoding="utf-8").splitlines():
        fid, path, error = line.split("\t")
        files.append(InputFile(fid, path, error or None))
    plan = ShardPlan(files, int(record["options"]["shard_size"]), record["skipped"])
    if plan.files_sha256() != record["inputs_sha256"]:
        raise BatchError(f"{out_dir / INPUTS_FILE} does not match {out_dir / PLAN_FILE}; start the run again")
    return plan, record


def run_rank(out_dir: str | Path, options: BatchOptions, rank: int = 0, world: int = 1, predictor=None) -> list[int]:
    """Predict the unfinished shards of process `rank` of `world` (a torchrun rank or an array task); return
    the shards it wrote."""
    import torch

    from dosforge.predict import load_model
    from dosforge.predict.graph_loader import iter_shard, make_loader
    from dosforge.predict.predictor import InputPreparer

    out_dir = Path(out_dir)
    plan, record = load_plan(out_dir)
    todo = [k for k in plan.shards_of(rank, world) if not _finished(out_dir, plan, k, record)]
    if todo:
        torch.set_num_threads(options.threads)
        predictor = predictor or load_model(options.checkpoint, device=rank_device(options.device))
        if predictor.info.sha256 and predictor.info.sha256 != record["checkpoint_sha256"]:
            raise BatchError(f"{options.checkpoint} is not the checkpoint this run started with ({PLAN_FILE})")
        predictor.check_options(options.batch_size, options.rescale_epdos)
        preparer = InputPreparer(predictor.info, options.primitive, options.max_atoms)
        files = [f for k in todo for f in plan.shard(k)]
        loader = iter(make_loader(files, preparer, options.graph_workers))
        desc = f"predict (rank {rank}/{world})" if world > 1 else "predict"
        with tqdm(total=len(files), desc=desc, unit="file", disable=not options.progress) as bar:
            for k in todo:
                n_files = len(plan.shard(k))
                outcomes = predictor.infer_stream(
                    iter_shard(loader, n_files), options.batch_size, options.rescale_epdos
                )
                rows = sorted(((j, outcome_row(o)) for j, o in outcomes), key=lambda jr: jr[0])
                sidecar = {"inputs_sha256": plan.shard_sha256(k), "run_key": record["run_key"]}
                sidecar.update(device=str(predictor.device), rank=f"{rank}/{world}")  # who wrote it (not in the key)
                write_part(out_dir, k, [r for _, r in rows], sidecar)
                bar.update(n_files)
    return todo  # the caller writes metadata.json (`finalize`) once it may be complete


def finalize(out_dir: str | Path, info=None) -> dict | None:
    """Write `metadata.json` when every part is finished; return it, or None while parts are missing."""
    out_dir = Path(out_dir)
    plan, record = load_plan(out_dir)
    sidecars = [_finished(out_dir, plan, k, record) for k in range(plan.n_shards)]
    if not all(sidecars):
        return None
    if info is None:
        from dosforge.predict import load_model

        info = load_model(record["checkpoint"], device="cpu").info
    meta = batch_metadata(info, record, sidecars)
    path = out_dir / METADATA_FILE
    if not path.exists() or read_json(path) != meta:
        write_json(path, meta)
    return meta


def batch_metadata(info, record: dict, sidecars: list[dict]) -> dict:
    """The run's metadata sidecar: checkpoint, synthetic flag, elements, grid, units, counts and the parts.

    Deterministic (no clock, no host): identical whichever process writes it, whatever the executor."""
    from dosforge.predict.output import run_metadata

    meta = run_metadata(info, [], record["skipped"], rescale_epdos=record["options"]["rescale_epdos"])
    meta.pop("created_utc")
    meta["format"] = record["format"]
    meta["checkpoint_sha256"] = record["checkpoint_sha256"]
    meta["options"] = record["options"]
    meta["energies_ev"] = [float(e) for e in info.grid.centers]
    meta["units"]["dos"] += "; float32, on energies_ev (relative to each row's efermi_ev)"
    meta["elements_predicted"] = by_z({el for s in sidecars for el in s["elements"]})
    predicted = sum(s["predicted"] for s in sidecars)
    failed = sum(s["failed"] for s in sidecars)
    meta["counts"] = {"inputs": predicted + failed, "predicted": predicted, "failed": failed}
    meta["counts"]["skipped"] = len(record["skipped"])
    meta["skipped"] = record["skipped"]  # files of named folders that are not structure files, with the reason
    meta["parts"] = [{"file": s["file"], "rows": s["rows"], "sha256": s["sha256"]} for s in sidecars]
    return meta


def torchrun_rank() -> tuple[int, int]:
    """(rank, world) from torchrun's environment; (0, 1) outside torchrun."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def run_submitit(out_dir: str | Path, options: BatchOptions, tasks: int, slurm: dict | None = None) -> list[list[int]]:
    """Run `tasks` array tasks through submitit (SLURM when present, else its local executor) and wait."""
    import submitit

    out_dir = Path(out_dir)
    executor = submitit.AutoExecutor(folder=out_dir / "submitit" / "%j")
    task_options = dataclasses.replace(options, progress=False)
    params = {"timeout_min": 60, "cpus_per_task": max(1, options.graph_workers) + 1, **(slurm or {})}
    if executor.cluster == "slurm":
        params.setdefault("slurm_array_parallelism", tasks)
    executor.update_parameters(**params)
    jobs = executor.map_array(run_rank, [out_dir] * tasks, [task_options] * tasks, range(tasks), [tasks] * tasks)
    return [job.result() for job in jobs]  # raises the first task's error, with its log in out/submitit


def _finished(out_dir: Path, plan: ShardPlan, k: int, record: dict) -> dict | None:
    return finished_sidecar(out_dir, k, plan.shard_sha256(k), record["run_key"])


def rank_device(device: str) -> str:
    """'auto' under torchrun: the GPU of this local rank, so G processes share G GPUs one each."""
    import torch

    if device == "auto" and torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return device


def _sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


__all__ = [
    "BatchError",
    "BatchOptions",
    "finalize",
    "load_plan",
    "part_paths",
    "rank_device",
    "run_rank",
    "run_submitit",
    "start",
    "torchrun_rank",
]
