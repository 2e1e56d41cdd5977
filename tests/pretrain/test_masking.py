"""Masking rules: max(1, ceil(0.3 n)) sites, drawn once from a seed, cells below min_sites skipped and counted."""

import math

import numpy as np
import torch

from dosforge.pretrain.masking import MaskedDataset, collate_pretrain, draw_mask, n_masked


def test_mask_count_rule():
    assert [n_masked(n, 0.3) for n in (1, 2, 3, 4, 10, 11, 40)] == [1, 1, 1, 2, 3, 4, 12]
    for n in range(2, 41):
        m = draw_mask(n, 0.3, seed=5, index=n)
        assert m.dtype == bool and m.sum() == max(1, math.ceil(0.3 * n))


def test_masks_are_static_and_seeded(items):
    a = MaskedDataset(items, 0.3, seed=1)
    b = MaskedDataset(items, 0.3, seed=1)
    c = MaskedDataset(items, 0.3, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.masks, b.masks, strict=True))
    assert [a[i]["atom_mask"].tolist() for i in range(len(a))] == [a[i]["atom_mask"].tolist() for i in range(len(a))]
    big = [dict(items[-1], z=np.tile(items[-1]["z"], 4)) for _ in range(6)]  # 12 sites: many possible masks
    assert any(
        not np.array_equal(x, y)
        for x, y in zip(MaskedDataset(big, 0.3, 1).masks, MaskedDataset(big, 0.3, 2).masks, strict=True)
    )
    assert len(c) == len(a)


def test_cells_below_min_sites_are_skipped_and_counted(items):
    ds = MaskedDataset(items, 0.3, seed=0, min_sites=2)
    assert ds.n_skipped == 1 and len(ds) == len(items) - 1  # the one-site Cu cell
    assert all(len(it["z"]) >= 2 for it in ds.items)
    assert MaskedDataset(items, 0.3, seed=0, min_sites=3).n_skipped == len(items) - 1


def test_collate_carries_mask_and_targets(items):
    ds = MaskedDataset(items, 0.3, seed=0)
    batch, extras = collate_pretrain([ds[0], ds[1], ds[len(ds) - 1]])
    n = batch.z.shape[0]
    assert extras["atom_mask"].shape == (n,) and extras["atom_mask"].dtype == torch.bool
    assert extras["frac"].shape == (n, 3) and extras["lattice"].shape == (3, 3, 3)
    assert ((extras["frac"] >= 0) & (extras["frac"] < 1)).all()
