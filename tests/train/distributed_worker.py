"""Run under `torchrun` by tests/train/test_distributed.py: train every job of a JSON file with `run_training`.

    torchrun --standalone --nproc-per-node=2 tests/train/distributed_worker.py jobs.json

A job: {"params", "processed", "split", "out", "stop_after_epoch" (optional)}. A stopped job ends right after
that epoch's checkpoint, on every rank, as a preempted run would.
"""

import json
import sys

from dosforge.train import distributed
from dosforge.train.run import run_training


class Stopped(Exception):
    """Stands in for a preemption right after an epoch's checkpoint was written."""


def run_job(job: dict) -> None:
    stop = job.get("stop_after_epoch")

    def hook(epoch: int, record: dict) -> None:
        if stop is not None and epoch + 1 == stop:
            raise Stopped

    try:
        run_training(
            job["params"], processed_dir=job["processed"], split_dir=job["split"], out_dir=job["out"],
            on_epoch_end=hook, progress=False,
        )  # fmt: skip
    except Stopped:
        pass


def main(path: str) -> int:
    distributed.setup("cpu", timeout_s=60)  # a hang fails within a minute instead of eating the suite's budget
    try:
        with open(path) as f:
            for job in json.load(f):
                run_job(job)
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
