"""The step plan: the legacy (seed, epoch) order, global batches cut into micro-batches, each rank's share."""

import pytest
import torch
from tqdm.auto import tqdm

from dosforge.train.data import make_loader
from dosforge.train.plan import cut, epoch_order, rank_share, step_plan, steps_per_epoch


class Positions(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


@pytest.mark.parametrize(("n", "batch", "seed", "epoch"), [(8, 3, 3, 0), (37, 16, 42, 5), (5, 8, 0, 2)])
def test_order_is_the_loops_legacy_loader_order(n, batch, seed, epoch, monkeypatch):
    """The plan yields the batches the loop's tqdm-wrapped shuffling DataLoader yielded (bitwise-identical default)."""
    monkeypatch.setattr("dosforge.model.collate", lambda samples, normalizer=None: list(samples))
    legacy = [b for b in tqdm(make_loader(Positions(n), None, batch, shuffle=True, seed=seed, epoch=epoch))]
    plan = step_plan(n, batch, None, seed, epoch)
    assert [step[0] for step in plan] == legacy and all(len(step) == 1 for step in plan)
    assert len(plan) == steps_per_epoch(n, batch)


def test_micro_batches_cut_each_global_batch_and_do_not_depend_on_the_micro_size():
    plan = step_plan(10, 4, 2, 7, 1)
    order = epoch_order(10, 7, 1)
    assert sorted(order) == list(range(10))
    assert [i for step in plan for mb in step for i in mb] == order
    assert [[len(mb) for mb in step] for step in plan] == [[2, 2], [2, 2], [2]]
    assert [sum(step, []) for step in plan] == [sum(s, []) for s in step_plan(10, 4, 3, 7, 1)]  # same global batches
    assert step_plan(10, 4, 2, 7, 2) != plan  # a new order every epoch


def test_rank_share_is_strided_and_covers_every_micro_batch_once():
    micro = [[0], [1], [2], [3], [4]]
    shares = [rank_share(micro, r, 2) for r in range(2)]
    assert shares == [[0, 2, 4], [1, 3]]
    assert rank_share(micro, 0, 1) == [0, 1, 2, 3, 4]
    assert rank_share([[0]], 1, 2) == []  # an idle rank in a partial last step
    assert cut([1, 2, 3], 2) == [[1, 2], [3]]
