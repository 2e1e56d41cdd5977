"""The step plan of one epoch: which materials each optimiser step and each of its micro-batches holds.

The order is the project's own (seed, epoch) permutation, `torch.randperm` with a generator seeded by
`epoch_seed(seed, epoch, stream=0)`, which is exactly the order of the seeded shuffling DataLoader the loop
used before micro-batches existed (`make_loader`, wrapped in `tqdm.auto.tqdm`), cut into consecutive global batches of
`batch_size` (the last one partial, as before). Each global batch is cut into consecutive micro-batches of
`micro_batch_size`; with W processes rank r runs micro-batches r, r + W, ... of every step. The plan never
depends on W, so neither do the batches (a DistributedSampler's order and padding would).
"""

from __future__ import annotations

import math

import torch

from dosforge.train.data import epoch_seed

LEGACY_ITERATOR_DRAWS = 2


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The permutation of range(n) an epoch visits: what `make_loader(shuffle=True)` yields for (seed, epoch)."""
    generator = torch.Generator()
    generator.manual_seed(epoch_seed(seed, epoch, stream=0))
    # Kept so that the order (and every trained model) is unchanged: each DataLoader iterator draws one int64 from
    # the generator for its base seed, and the loop's `tqdm.auto` bar created one iterator in its constructor
    # (tqdm.asyncio keeps `iter(iterable)`) before the `for` created the one that ran: two draws, then randperm.
    for _ in range(LEGACY_ITERATOR_DRAWS):
        torch.empty((), dtype=torch.int64).random_(generator=generator)
    return torch.randperm(n, generator=generator).tolist()


def cut(items: list[int], size: int) -> list[list[int]]:
    """Consecutive chunks of `size` (the last one shorter when `size` does not divide the length)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def step_plan(n: int, batch_size: int, micro_batch_size: int | None, seed: int, epoch: int) -> list[list[list[int]]]:
    """Steps of one epoch; each step is its list of micro-batches, each a list of dataset positions."""
    micro = batch_size if micro_batch_size is None else micro_batch_size
    return [cut(batch, micro) for batch in cut(epoch_order(n, seed, epoch), batch_size)]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def rank_share(micro_batches: list, rank: int, world: int) -> list[int]:
    """Indices (into the step's micro-batches) that `rank` of `world` processes runs: rank, rank + W, ..."""
    return list(range(rank, len(micro_batches), world))
