"""Fan-out: many DVC stages of one workspace trained concurrently, N at a time, one device each; then evaluate.

`dvc repro` never runs two stages at once, but `dvc --wait-for-lock repro -s <stage>` started several times
in one workspace does: DVC holds its repo lock only around bookkeeping and lets the commands run unlocked
(notes/distributed.md 2.1, measured: 4 stages 4.3 s against 17.4 s serial, dvc.lock complete, status clean).
`-s` runs just that stage, so the stages they share upstream (fetch, preprocess, split) are brought up to
date first, once. Executors:
- `local`: a pool of N slots on this machine; slot i sees only device i (CUDA_VISIBLE_DEVICES) when devices
  are given.
- `submitit`: one job per stage through submitit: a SLURM job array (`slurm_array_parallelism=N`, one GPU a
  job) where SLURM exists, otherwise submitit's local executor (what CI runs), N jobs at a time. The
  workspace must be on a filesystem the nodes share.
Each stage's output goes to `.dosforge/fanout/<stage>.log`. All trainings log to one `mlflow server`
(`MlflowServer`) instead of writing the sqlite store at once.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from dosforge.launch.mlflow_server import MlflowServer
from dosforge.launch.stages import select_stages, upstream_stages

EXECUTORS = ("local", "submitit")
EXPERIMENT = "dosforge"  # dosforge.train.tracking.DEFAULT_EXPERIMENT (not imported: that would import torch)


class FanoutError(RuntimeError):
    """A stage failed (the message names it and its log) or the fan-out could not start."""


@dataclass
class StageRun:
    stage: str
    returncode: int
    seconds: float
    log: str
    device: str | None = None


def run_stage(stage: str, root: str, overlay: dict[str, str], log: str, device: str | None = None) -> StageRun:
    """`dvc --wait-for-lock repro -s <stage>` in `root` with `overlay` on top of the environment (a submitit job
    runs this function on the node)."""
    env = dict(os.environ, **overlay)
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(["dvc", "--wait-for-lock", "repro", "-s", stage], cwd=root, env=env, stdout=out,
                              stderr=subprocess.STDOUT, check=False)  # fmt: skip
    return StageRun(stage, proc.returncode, time.perf_counter() - t0, log, device)


def run_local(stages, root, overlay, jobs: int, devices: list[str] | None, logs: Path, progress=True) -> list:
    slots: queue.Queue = queue.Queue()
    for i in range(jobs):
        slots.put(devices[i] if devices else None)

    def one(stage: str) -> StageRun:
        device = slots.get()
        try:
            return run_stage(stage, str(root), overlay, str(logs / f"{stage}.log"), device)
        finally:
            slots.put(device)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, s) for s in stages]
        return [f.result() for f in tqdm(futures, desc="stages", disable=not progress)]


def run_submitit(stages, root, overlay, jobs: int, logs: Path, slurm: dict | None = None, progress=True) -> list:
    import submitit

    executor = submitit.AutoExecutor(folder=str(logs / "submitit"))
    params = {"timeout_min": 24 * 60, "slurm_array_parallelism": jobs, "gpus_per_node": 1, "cpus_per_task": 4}
    params.update(slurm or {})
    if executor.cluster != "slurm":  # local fallback: no GPU request, and N jobs at a time by waves below
        params = {"timeout_min": params["timeout_min"]}
    executor.update_parameters(**params)
    args = [(s, str(root), overlay, str(logs / f"{s}.log")) for s in stages]
    waves = [args] if executor.cluster == "slurm" else [args[i : i + jobs] for i in range(0, len(args), jobs)]
    results = []
    for wave in waves:
        submitted = executor.map_array(run_stage, *zip(*wave, strict=True))
        results += [j.result() for j in tqdm(submitted, desc=f"{executor.cluster} jobs", disable=not progress)]
    return results


def _ensure_experiment(uri: str) -> None:
    """Create the experiment once, before the trainings race to get-or-create it (mlflow/mlflow#4123)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT)


def _dvc(args: list[str], root: Path, env: dict) -> None:
    proc = subprocess.run(["dvc", *args], cwd=root, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FanoutError(
            f"`dvc {' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )


def fanout(
    targets: list[str],
    *,
    root: str | Path = ".",
    jobs: int | None = None,
    devices: list[str] | None = None,
    executor: str = "local",
    then: list[str] | tuple[str, ...] = ("evaluate",),
    mlflow: bool = True,
    slurm: dict | None = None,
    progress: bool = True,
) -> dict:
    """Run the stages of `targets` (`ablate`, `seed`, `train` or full names) N at a time; then the `then` stages.

    Returns a summary (stages with seconds, device and log; wall time). Raises FanoutError naming failed stages."""
    root = Path(root).resolve()
    if executor not in EXECUTORS:
        raise FanoutError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    jobs = jobs or (len(devices) if devices else 1)
    if jobs < 1 or (devices and len(devices) < jobs):
        raise FanoutError(f"--jobs {jobs} needs at least {jobs} devices (--devices {','.join(devices or [])})")
    try:
        stages = select_stages(root, targets)
        upstream = upstream_stages(root, stages)
    except ValueError as exc:
        raise FanoutError(str(exc)) from exc
    logs = root / ".dosforge" / "fanout"
    t0 = time.perf_counter()
    env = dict(os.environ)
    phases = {}
    # jobs on other SLURM nodes must reach the server (submitit picks SLURM where `srun` exists)
    host = "0.0.0.0" if executor == "submitit" and shutil.which("srun") else "127.0.0.1"
    server = MlflowServer(root, host=host) if mlflow else None
    with server or nullcontext():  # __enter__ starts it; the upstream stages run while it comes up
        if upstream:  # shared inputs once, serially, before the concurrent `-s` runs
            _dvc(["repro", *upstream], root, env)
        phases["upstream_s"] = time.perf_counter() - t0
        overlay = {}
        if server is not None:
            try:
                server.wait()
            except RuntimeError as exc:
                raise FanoutError(str(exc)) from exc
            overlay["MLFLOW_TRACKING_URI"] = server.uri
            _ensure_experiment(server.uri)
        phases["mlflow_server_wait_s"] = time.perf_counter() - t0 - phases["upstream_s"]
        t_stages = time.perf_counter()
        if executor == "local":
            runs = run_local(stages, root, overlay, jobs, devices, logs, progress)
        else:
            runs = run_submitit(stages, root, overlay, jobs, logs, slurm, progress)
        failed = [r for r in runs if r.returncode != 0]
        if failed:
            raise FanoutError("failed: " + "; ".join(f"{r.stage} (exit {r.returncode}, log {r.log})" for r in failed))
        phases["stages_s"] = time.perf_counter() - t_stages
        for stage in then:
            _dvc(["repro", stage], root, dict(env, **overlay))
        phases["then_s"] = time.perf_counter() - t_stages - phases["stages_s"]
    return {
        "stages": [asdict(r) for r in runs],
        "upstream": upstream,
        "then": list(then),
        "executor": executor,
        "jobs": jobs,
        "wall_seconds": time.perf_counter() - t0,
        "phases": phases,
        "host": socket.gethostname(),
    }
