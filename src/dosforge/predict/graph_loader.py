"""Structure files -> prepared model inputs in DataLoader worker processes (the CPU half of batch prediction).

Each worker reads a file, checks every structure in it, reduces it to the cell the model sees and
builds its crystal graph (`InputPreparer`), while the main process runs the model on the batches
already prepared (docs/predict.md, "Batch prediction"). The DataLoader returns items in input order
whatever the number of workers, so the batches, and hence the numbers, do not depend on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from dosforge.predict.inputs import StructureInput, read_structure_file
from dosforge.predict.predictor import InputPreparer
from dosforge.predict.result import PredictionFailure
from dosforge.predict.shard_plan import InputFile

PREFETCH_PER_WORKER = 8  # files each worker prepares ahead: keeps the model fed at a bounded memory cost


class StructureFileDataset(Dataset):
    """Item i: every structure of file i as `(input, (cell, sample) or PredictionFailure)`."""

    def __init__(self, files: Sequence[InputFile], preparer: InputPreparer):
        self.files = list(files)
        self.preparer = preparer

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> list[tuple[StructureInput, tuple | PredictionFailure]]:
        f = self.files[i]
        if f.error:
            return [(StructureInput(f.id, f.path, error=f.error), PredictionFailure(f.id, f.path, f.error))]
        return [(inp, self.preparer(inp)) for inp in read_structure_file(f.path, source_id=f.id)]


def make_loader(files: Sequence[InputFile], preparer: InputPreparer, workers: int) -> DataLoader:
    """Files in order, prepared by `workers` processes (0: in the calling process)."""
    if workers < 0:
        raise ValueError(f"graph workers must be >= 0, got {workers}")
    return DataLoader(
        StructureFileDataset(files, preparer),
        batch_size=None,  # one file per item; the model's batches are formed by Predictor.infer_stream
        collate_fn=_as_is,  # the default would turn numpy graph arrays into tensors
        num_workers=workers,
        worker_init_fn=_one_thread if workers else None,
        prefetch_factor=PREFETCH_PER_WORKER if workers else None,
    )


def iter_shard(files: Iterator, n_files: int) -> Iterator[tuple[int, StructureInput, tuple | PredictionFailure]]:
    """`(j, input, prepared)` for the structures of the next `n_files` items of a loader iterator, j from 0."""
    j = 0
    for _ in range(n_files):
        for inp, prepared in next(files):
            yield j, inp, prepared
            j += 1


def _as_is(item):
    return item


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # graph building is numpy/pymatgen; torch threads would only oversubscribe the cores
