"""The output does not depend on the worker count, the chunk size or the executor (local pool, submitit array)."""

from __future__ import annotations

import numpy as np
import pytest
from real_fixtures import stand_in_graph

from dosforge.preprocess import preprocess
from dosforge.preprocess.executors import EXECUTOR_ENV, executor_name
from dosforge.shards import load_processed


def _params(real_params, tmp_path, **preprocess_cfg) -> dict:
    cfg = {"workers": 1, "shard_size": 2, "chunk_records": 2, "work_dir": str(tmp_path / "work"), **preprocess_cfg}
    return {**real_params, "graph": {"cutoff": 4.0, "max_neighbors": 12}, "preprocess": cfg}


def _files(out) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(out.iterdir())}


def _same_arrays(a, b) -> None:
    assert a.ids == b.ids and a.point_group == b.point_group and a.formula == b.formula
    for name in ("dos", "epdos", "epdos_ptr", "epdos_z", "efermi", "gap", "atom_ptr", "cart_coords", "lattice"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.graph.keys() == b.graph.keys()
    for key in a.graph:
        np.testing.assert_array_equal(a.graph[key][0], b.graph[key][0])
        np.testing.assert_array_equal(a.graph[key][1], b.graph[key][1])


@pytest.fixture(scope="module")
def one_worker(real_params, real_raw, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one_worker")
    run: dict = {}
    preprocess(
        real_raw, tmp / "out", _params(real_params, tmp), graph_builder=stand_in_graph, progress=False, run_report=run
    )
    return tmp / "out", run


def test_one_and_two_workers_give_identical_arrays_and_manifest(one_worker, real_params, real_raw, tmp_path):
    out1, run1 = one_worker
    assert run1["chunks"] == 3 and run1["computed"] == [0, 1, 2]  # 5 records in chunks of 2
    params = _params(real_params, tmp_path, workers=2)
    preprocess(real_raw, tmp_path / "out", params, graph_builder=stand_in_graph, progress=False)
    assert _files(tmp_path / "out") == _files(out1)  # manifest.json, rejects.csv and every shard, byte for byte
    _same_arrays(load_processed(tmp_path / "out"), load_processed(out1))


@pytest.mark.parametrize("chunk_records", [1, 3, 1000])
def test_chunk_size_does_not_change_the_output(one_worker, real_params, real_raw, tmp_path, chunk_records):
    params = _params(real_params, tmp_path, chunk_records=chunk_records)
    preprocess(real_raw, tmp_path / "out", params, graph_builder=stand_in_graph, progress=False)
    assert _files(tmp_path / "out") == _files(one_worker[0])


def test_submitit_array_gives_the_same_output(real_params, real_raw, tmp_path, monkeypatch):
    """DOSFORGE_EXECUTOR=slurm without SLURM: submitit's local executor runs the array as subprocesses."""
    pytest.importorskip("submitit")
    local = tmp_path / "local"
    preprocess(real_raw, local / "out", _params(real_params, local), progress=False)  # the default graph builder
    monkeypatch.setenv(EXECUTOR_ENV, "slurm")
    run: dict = {}
    array = tmp_path / "array"
    preprocess(real_raw, array / "out", _params(real_params, array, workers=2), progress=False, run_report=run)
    assert run["executor"] == "slurm" and run["computed"] == [0, 1, 2]
    assert list((array / "work").glob("*/submitit/*_0_log.out"))  # the array's logs: it really ran there
    assert _files(array / "out") == _files(local / "out")


def test_unknown_executor_is_an_error_listing_the_valid_ones(monkeypatch):
    monkeypatch.setenv(EXECUTOR_ENV, "ray")
    with pytest.raises(ValueError, match="local, slurm"):
        executor_name()
