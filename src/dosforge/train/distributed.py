"""Several training processes under torchrun: process group, rank helpers, clean shutdown.

`torchrun` (torch.distributed.run) starts the processes and sets RANK, WORLD_SIZE, LOCAL_RANK; `setup()`
joins them into one process group (NCCL on CUDA, gloo on CPU) with a timeout, so a hang fails instead of
eating the job. Without torchrun (WORLD_SIZE unset or 1) nothing is initialised and every helper answers
for one process. `shutdown()` waits at a barrier before `destroy_process_group()`: without it a process
that finishes first made exit hang in about 2 of 8 runs (notes/distributed.md 1.2; pytorch/pytorch#75097).
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT_S = 1800.0  # a rank that waits longer than this for the others fails (DOSFORGE_DIST_TIMEOUT_S)


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def setup(device: str = "auto", timeout_s: float | None = None) -> bool:
    """Join the torchrun process group when WORLD_SIZE > 1; True when a group is (now) initialised.

    `device` is the params' `train.device`: NCCL serves CUDA tensors, gloo CPU tensors."""
    if env_world_size() <= 1 or is_initialized():
        return is_initialized()
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank())
    timeout = float(timeout_s or os.environ.get("DOSFORGE_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(seconds=timeout))
    return True


def barrier() -> None:
    if is_initialized():
        dist.barrier()


def shutdown() -> None:
    """Barrier, then destroy the process group (no-op for one process)."""
    if is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def broadcast_object(obj=None, src: int = 0):
    """`obj` of rank `src` on every rank (a picklable value); the value itself with one process."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_objects(obj) -> list | None:
    """Every rank's `obj`, in rank order, on rank 0 (None elsewhere); `[obj]` with one process."""
    if not is_initialized():
        return [obj]
    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def all_gather_objects(obj) -> list:
    if not is_initialized():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out
