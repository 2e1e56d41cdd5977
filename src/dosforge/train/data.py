"""Materials of one split, held in memory, batched with `dosforge.model.collate`.

Data order depends only on (seed, epoch), never on how many epochs ran before in this process,
so a run resumed from `last.pt` sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed derived from (seed, epoch, stream); independent streams for data order and dropout."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(2, np.uint64)[0] >> 1)


class SplitDataset(Dataset):
    """The materials of `processed` listed in `ids` (a split), in that order."""

    def __init__(self, processed, ids: Sequence[str]):
        index = {mid: i for i, mid in enumerate(processed.ids)}
        missing = [mid for mid in ids if mid not in index]
        if missing:
            raise KeyError(
                f"{len(missing)} split id(s) are not in the processed data (first: {missing[:5]}); "
                "the split is stale: run `dvc repro split`"
            )
        self.processed = processed
        self.ids = list(ids)
        self.rows = np.array([index[mid] for mid in self.ids], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.processed.sample(int(self.rows[i]))


def make_loader(
    dataset: SplitDataset,
    normalizer,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
) -> DataLoader:
    """A single-process DataLoader; when shuffling, its order is seeded by (seed, epoch)."""
    from dosforge.model import collate

    generator = None
    if shuffle:
        generator = torch.Generator()
        generator.manual_seed(epoch_seed(seed, epoch, stream=0))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=partial(collate, normalizer=normalizer),
        num_workers=0,  # data is in memory; worker processes would only add start-up cost on 2 cores
    )
