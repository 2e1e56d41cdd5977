"""Tiny corpus items (real graphs and canonical targets of small cells) for the pretraining tests."""

import pytest
import torch
from pretrain_testkit import GRAPH, small_structures

from dosforge.pretrain.corpus import make_item


@pytest.fixture(scope="session")
def items() -> list[dict]:
    return [make_item(f"s{i}", "bundle", s, GRAPH) for i, s in enumerate(small_structures())]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
