"""Where the chunk jobs run: a local process pool (default) or a SLURM job array through submitit.

Chosen by the environment variable `DOSFORGE_EXECUTOR` (`local` | `slurm`), not by a param: the output
does not depend on it (tested), so switching must not make DVC re-run anything. `slurm` submits
`run_chunk` as a submitit job array (`AutoExecutor.map_array`); where no SLURM is found (`sbatch`
missing) submitit's own local executor runs the same array as subprocesses, which is how the tests
cover this path. SLURM settings come from the environment too:

    DOSFORGE_SLURM_PARTITION      partition (default: the cluster's default)
    DOSFORGE_SLURM_TASKS          array tasks at most (default 64); each runs its share of chunks in turn
    DOSFORGE_SLURM_PARALLELISM    array tasks running at once (default: all)
    DOSFORGE_SLURM_TIMEOUT_MIN    per task (default 60)
    DOSFORGE_SLURM_CPUS           cpus per task (default 1)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from dosforge.preprocess.chunks import ChunkJob, run_chunk

EXECUTOR_ENV = "DOSFORGE_EXECUTOR"
EXECUTORS = ("local", "slurm")


def executor_name() -> str:
    name = os.environ.get(EXECUTOR_ENV, "local").strip().lower() or "local"
    if name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}={name!r} is not one of {', '.join(EXECUTORS)}")
    return name


def run_jobs(jobs: list[ChunkJob], workers: int, submitit_dir: Path, progress: bool = True) -> dict[int, dict]:
    """Run every job; return {chunk index: sidecar}."""
    if not jobs:
        return {}
    name = executor_name()
    n_records = sum(len(j.paths) for j in jobs)
    bar = tqdm(total=n_records, desc=f"preprocess ({name})", unit="material", disable=not progress, file=sys.stderr)
    results = {}
    with bar:
        runner = _run_slurm(jobs, workers, submitit_dir) if name == "slurm" else _run_local(jobs, workers)
        for sidecar in runner:
            results[sidecar["index"]] = sidecar
            bar.update(sidecar["n_records"])
    return results


def _run_local(jobs: list[ChunkJob], workers: int) -> Iterator[dict]:
    if workers <= 1 or len(jobs) == 1:
        yield from map(run_chunk, jobs)
        return
    # fork: the workers inherit the graph builder (which may be a closure) without pickling it
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
    with ctx.Pool(min(workers, len(jobs))) as pool:
        yield from pool.imap_unordered(run_chunk, jobs)


def run_chunk_group(jobs: list[ChunkJob]) -> list[dict]:
    """One array task: its chunks in turn."""
    return [run_chunk(j) for j in jobs]


def _run_slurm(jobs: list[ChunkJob], workers: int, folder: Path) -> Iterator[dict]:
    try:
        import submitit
    except ImportError as exc:
        raise ImportError(f"{EXECUTOR_ENV}=slurm needs submitit: pip install submitit") from exc

    executor = submitit.AutoExecutor(folder=str(folder))
    env = os.environ.get
    n_tasks = int(env("DOSFORGE_SLURM_TASKS", "64")) if executor.cluster == "slurm" else max(workers, 1)
    n_tasks = max(1, min(n_tasks, len(jobs)))
    params = {
        "timeout_min": int(env("DOSFORGE_SLURM_TIMEOUT_MIN", "60")),
        "cpus_per_task": int(env("DOSFORGE_SLURM_CPUS", "1")),
    }
    if env("DOSFORGE_SLURM_PARTITION"):
        params["slurm_partition"] = env("DOSFORGE_SLURM_PARTITION")
    if env("DOSFORGE_SLURM_PARALLELISM"):
        params["slurm_array_parallelism"] = int(env("DOSFORGE_SLURM_PARALLELISM"))
    executor.update_parameters(name="dosforge-preprocess", **params)
    if executor.cluster != "slurm":
        print(
            f"preprocess: no SLURM here; submitit's {executor.cluster} executor runs {n_tasks} tasks", file=sys.stderr
        )
    groups = [jobs[t::n_tasks] for t in range(n_tasks)]  # round robin: each task gets early and late chunks
    submitted = executor.map_array(run_chunk_group, groups)
    for job in submitted:
        yield from job.result()  # raises submitit's error (with the task's log path) if a task failed
