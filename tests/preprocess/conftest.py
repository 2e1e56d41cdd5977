"""Session fixtures for preprocess: the real MP fixtures fetched through the `files` source and processed once."""

from __future__ import annotations

from pathlib import Path

import pytest
from real_fixtures import FIXTURES, GRID, stand_in_graph

from dosforge.preprocess import preprocess
from dosforge.shards import load_processed
from dosforge.sources import fetch


@pytest.fixture(scope="session")
def real_params() -> dict:
    return {
        "data": {"source": "files", "path": str(FIXTURES), "max_sites": 30},
        "grid": dict(GRID),
        "preprocess": {"workers": 1, "shard_size": 2},
    }


@pytest.fixture(scope="session")
def real_raw(real_params, tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    fetch(real_params, raw)
    return raw


@pytest.fixture(scope="session")
def real_processed(real_params, real_raw, tmp_path_factory):
    """The fixtures processed with the default parameters (`preprocess.resample` unset: `interpolate`)."""
    out = tmp_path_factory.mktemp("processed")
    manifest = preprocess(real_raw, out, real_params, graph_builder=stand_in_graph, progress=False)
    return manifest, load_processed(out), out


@pytest.fixture(scope="session")
def real_processed_average(real_params, real_raw, tmp_path_factory):
    """The fixtures processed with `preprocess.resample: average` (bin averages of the PCHIP curve)."""
    out = tmp_path_factory.mktemp("processed_average")
    params = {**real_params, "preprocess": {**real_params["preprocess"], "resample": "average"}}
    manifest = preprocess(real_raw, out, params, graph_builder=stand_in_graph, progress=False)
    return manifest, load_processed(out), out


@pytest.fixture(params=["interpolate", "average"])
def processed_by_mode(request):
    """(mode, (manifest, data, out)) for each `preprocess.resample` mode."""
    name = "real_processed" if request.param == "interpolate" else "real_processed_average"
    return request.param, request.getfixturevalue(name)
