"""Chunks are the unit of resume: a rerun recomputes only missing, corrupt or stale work shards."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest
from real_fixtures import stand_in_graph

from dosforge.io import read_json
from dosforge.preprocess import preprocess
from dosforge.preprocess.chunks import read_materials
from dosforge.shards import sha256


def _slow_graph(structure):
    if os.environ.get("DOSFORGE_TEST_SLOW"):  # set only in the run that gets killed
        time.sleep(0.5)
    return stand_in_graph(structure)


def _params(real_params, tmp_path) -> dict:
    cfg = {"workers": 1, "shard_size": 2, "chunk_records": 1, "work_dir": str(tmp_path / "work")}
    return {**real_params, "preprocess": cfg}


def _run(raw, out, params) -> dict:
    run: dict = {}
    preprocess(raw, out, params, graph_builder=_slow_graph, progress=False, run_report=run)
    return run


def _files(out) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def uninterrupted(real_params, real_raw, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uninterrupted")
    run = _run(real_raw, tmp / "out", _params(real_params, tmp))
    return tmp, run


def test_each_chunk_has_a_work_shard_and_a_sidecar(uninterrupted):
    tmp, run = uninterrupted
    assert run["chunks"] == 5 and run["computed"] == [0, 1, 2, 3, 4] and run["reused"] == []
    sidecars = [read_json(p) for p in sorted((tmp / "work").glob("*/chunk-*.json"))]
    assert [s["index"] for s in sidecars] == [0, 1, 2, 3, 4]
    for s in sidecars:
        shard = tmp / "work" / os.path.basename(run["work_dir"]) / s["shard"]
        assert s["n_records"] == 1 and s["n_materials"] == len(s["ids"]) == 1 and s["rejects"] == []
        assert sha256(shard) == s["sha256"] and [m["id"] for m in read_materials(shard)] == s["ids"]


def test_rerun_reuses_everything_and_gives_the_same_bytes(uninterrupted, real_params, real_raw):
    tmp, _ = uninterrupted
    before = _files(tmp / "out")
    run = _run(real_raw, tmp / "out", _params(real_params, tmp))
    assert run["computed"] == [] and run["reused"] == [0, 1, 2, 3, 4]
    assert _files(tmp / "out") == before


def test_corrupt_or_missing_work_shards_are_recomputed(uninterrupted, real_params, real_raw, tmp_path):
    reference, _ = uninterrupted
    first = _run(real_raw, tmp_path / "out", _params(real_params, tmp_path))
    work = tmp_path / "work" / os.path.basename(first["work_dir"])
    shard = work / "chunk-00001.h5"
    shard.write_bytes(shard.read_bytes()[:-100])  # truncated
    (work / "chunk-00003.json").unlink()  # killed between the shard and its sidecar
    (work / "chunk-00004.h5").unlink()
    run = _run(real_raw, tmp_path / "out", _params(real_params, tmp_path))
    assert run["computed"] == [1, 3, 4] and run["reused"] == [0, 2]
    assert _files(tmp_path / "out") == _files(reference / "out")


def test_rewritten_inputs_make_their_chunks_stale(uninterrupted, real_params, real_raw, tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(real_raw, raw)
    _run(raw, tmp_path / "out", _params(real_params, tmp_path))
    second = sorted((raw / "records").iterdir())[2]
    second.write_bytes(second.read_bytes())  # a new fetch rewrote it (new mtime)
    os.utime(second, ns=(time.time_ns(), time.time_ns() + 10**9))
    run = _run(raw, tmp_path / "out", _params(real_params, tmp_path))
    assert run["computed"] == [2]


def test_killed_run_resumes_to_the_uninterrupted_output(uninterrupted, real_params, real_raw, tmp_path):
    """SIGKILL mid-run (inside a chunk), then a rerun: only unfinished chunks computed, output identical."""
    params = _params(real_params, tmp_path)

    def child():
        os.environ["DOSFORGE_TEST_SLOW"] = "1"
        _run(real_raw, tmp_path / "out", params)

    proc = mp.get_context("fork").Process(target=child)
    proc.start()
    deadline = time.time() + 120
    while len(list((tmp_path / "work").glob("*/chunk-*.json"))) < 2 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    done = len(list((tmp_path / "work").glob("*/chunk-*.json")))
    assert 2 <= done < 5
    run = _run(real_raw, tmp_path / "out", params)
    assert run["reused"] == list(range(done)) and run["computed"] == list(range(done, 5))
    assert _files(tmp_path / "out") == _files(uninterrupted[0] / "out")
    assert not list((tmp_path / "work").glob("*/.*.tmp"))  # the killed run's half-written file is gone
