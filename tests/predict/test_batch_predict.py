"""Batch prediction (`dosforge predict --format parquet`): the JSON mode's numbers and failures, the same
output whatever the executor (graph workers, torchrun ranks, a submitit array), and resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from pymatgen.core import Lattice, Structure

import dosforge
from dosforge.cli import EXIT_SOME_FAILED, EXIT_USAGE, main
from dosforge.io import read_json
from dosforge.predict.parquet_parts import PART_SCHEMA, part_paths, read_parts

SHARD = 3  # 16 inputs -> 6 shards, the last one short


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, good_structures, bad_structures):
    """12 good structures (perturbed copies), an unreadable CIF, a noble gas, an unseen element, a stray text file."""
    d = tmp_path_factory.mktemp("batch_in")
    for i in range(3):
        for name, s in good_structures.items():
            s = s.copy()
            s.perturb(0.02 * i)  # seeded below by pymatgen's own RNG; any small distortion serves
            s.to(filename=str(d / f"{name}_{i}.json"))
    (d / "broken.cif").write_text("data_x\n_cell_length_a 3\n")
    bad_structures["noble"].to(filename=str(d / "argon.json"))
    Structure(Lattice.cubic(4.0), ["Pu", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(d / "PuO.json"))
    (d / "notes.txt").write_text("not a structure")
    return d


def _batch(inputs, out, checkpoint, *extra) -> int:
    args = ["predict", str(inputs), "-c", str(checkpoint), "-o", str(out), "--format", "parquet", "-q"]
    return main([*args, "--shard-size", str(SHARD), "--graph-workers", "0", *extra])


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(dosforge.__file__).parents[1]), OMP_NUM_THREADS="1")
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    return env


@pytest.fixture(scope="module")
def reference(tmp_path_factory, inputs, checkpoint):
    out = tmp_path_factory.mktemp("batch_ref")
    assert _batch(inputs, out, checkpoint) == EXIT_SOME_FAILED  # three inputs fail, the rest are predicted
    return out


def _same_output(a: Path, b: Path) -> None:
    """Identical rows, parts (their sha256 is in the metadata) and metadata."""
    assert read_parts(a).equals(read_parts(b))
    assert read_json(a / "metadata.json") == read_json(b / "metadata.json")


def _writers(out: Path) -> set[tuple[str, str]]:
    """(device, rank/world) of the process that wrote each part."""
    return {(s["device"], s["rank"]) for s in map(read_json, sorted(out.glob("part-*.json")))}


def test_rows_match_the_json_output_and_failures_keep_their_reason(tmp_path, inputs, checkpoint, reference):
    assert main(["predict", str(inputs), "-c", str(checkpoint), "-o", str(tmp_path), "-q"]) == EXIT_SOME_FAILED
    expected = read_json(tmp_path / "predictions.json")["structures"]
    one_shard = tmp_path / "one_shard"
    _batch(inputs, one_shard, checkpoint, "--shard-size", "100")  # one shard: the JSON mode's batches exactly
    for out, exact in ((one_shard, True), (reference, False)):
        rows = read_parts(out).to_pylist()
        assert [r["id"] for r in rows] == [e["id"] for e in expected]
        for r, e in zip(rows, expected, strict=True):
            assert r["status"] == ("ok" if e["status"] == "ok" else "failed") and r["error"] == e.get("error")
            if r["status"] != "ok":
                assert r["dos"] is None and r["efermi_ev"] is None
                continue
            assert r["epdos_elements"] == list(e["epdos"])
            got = np.concatenate([r["dos"], *r["epdos"], [r["efermi_ev"], r["gap_ev"]]])
            want = np.concatenate([e["dos"], *e["epdos"].values(), [e["efermi_ev"], e["gap_ev"]]]).astype(np.float32)
            # other shard boundaries make other batches: equal to float32 rounding, not bitwise
            tol = 0 if exact else 1e-5
            np.testing.assert_allclose(got.astype(np.float32), want, rtol=tol, atol=tol)
    errors = {r["id"]: r["error"] for r in read_parts(reference).to_pylist() if r["status"] == "failed"}
    assert set(errors) == {"broken", "argon", "PuO"}
    assert "noble gas" in errors["argon"] and "never seen" in errors["PuO"] and "unreadable" in errors["broken"]
    meta = read_json(reference / "metadata.json")
    assert meta["counts"] == {"inputs": 15, "predicted": 12, "failed": 3, "skipped": 1}
    assert meta["skipped"][0]["path"].endswith("notes.txt") and meta["synthetic_labels"] is True
    assert meta["checkpoint_sha256"] and meta["elements_predicted"] == ["N", "Na", "Si", "Cl", "Cu", "Ga"]
    assert len(meta["energies_ev"]) == 256 and [p["file"] for p in meta["parts"]][-1] == "part-00004.parquet"
    assert pq.read_schema(reference / "part-00000.parquet").equals(PART_SCHEMA, check_metadata=False)


def test_graph_workers_do_not_change_the_output(tmp_path, inputs, checkpoint, reference):
    _batch(inputs, tmp_path, checkpoint, "--graph-workers", "2")
    _same_output(reference, tmp_path)


def test_submitit_array_gives_the_same_output(tmp_path, inputs, checkpoint, reference):
    """Without SLURM, submitit's local executor runs the array tasks as processes on this machine."""
    assert _batch(inputs, tmp_path, checkpoint, "--executor", "submitit", "--tasks", "2") == EXIT_SOME_FAILED
    _same_output(reference, tmp_path)
    assert _writers(tmp_path) == {("cpu", "0/2"), ("cpu", "1/2")}  # two array tasks, shards split between them


def test_torchrun_two_ranks_give_the_same_output(tmp_path, inputs, checkpoint, reference):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "dosforge.cli"]
    cmd += ["predict", str(inputs), "-c", str(checkpoint), "-o", str(tmp_path), "--format", "parquet", "-q"]
    cmd += ["--shard-size", str(SHARD), "--graph-workers", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=900)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # torchrun returns 1 when a rank exits 1 (failed rows)
    _same_output(reference, tmp_path)
    assert _writers(tmp_path) == {("cpu", "0/2"), ("cpu", "1/2")}


def test_resume_redoes_only_missing_partial_or_damaged_parts(tmp_path, inputs, checkpoint, reference):
    out = tmp_path / "out"
    _batch(inputs, out, checkpoint)
    part = {k: part_paths(out, k) for k in range(5)}
    part[1][0].unlink()  # killed between the two files
    part[2][0].write_bytes(part[2][0].read_bytes()[:100])  # truncated Parquet: sha256 no longer matches
    part[3][1].unlink()  # Parquet written, sidecar not: unfinished
    (out / "metadata.json").unlink()
    (out / ".part-00004.parquet.abc.tmp").write_bytes(b"half")  # a temporary file a kill leaves behind
    untouched = {k: part[k][0].stat().st_mtime_ns for k in (0, 4)}
    _batch(inputs, out, checkpoint)
    assert {k: part[k][0].stat().st_mtime_ns for k in (0, 4)} == untouched
    _same_output(reference, out)


def test_killed_run_resumes_to_the_same_output(tmp_path, inputs, checkpoint, reference):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dosforge.cli", "predict", str(inputs), "-c", str(checkpoint), "-o", str(out)]
    cmd += ["--format", "parquet", "-q", "--shard-size", "1", "--graph-workers", "0", "--batch-size", "1"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 900  # interpreter start-up alone takes minutes on a loaded machine
    while not part_paths(out, 0)[1].exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list(out.glob("part-*.json")))
    assert 0 < finished < 15, f"the kill came at {finished} of 15 parts; {proc.stderr.read().decode()[-2000:]}"
    assert subprocess.run(cmd, env=_env(), capture_output=True, timeout=900).returncode == EXIT_SOME_FAILED
    uninterrupted = tmp_path / "uninterrupted"
    cmd[cmd.index(str(out))] = str(uninterrupted)
    assert subprocess.run(cmd, env=_env(), capture_output=True, timeout=900).returncode == EXIT_SOME_FAILED
    _same_output(uninterrupted, out)


def test_another_run_in_the_output_folder_is_refused(inputs, checkpoint, reference, capsys):
    assert _batch(inputs, reference, checkpoint, "--batch-size", "2") == EXIT_USAGE
    assert "holds a batch run over other inputs" in capsys.readouterr().err
    assert _batch(inputs, reference, checkpoint, "--plots") == EXIT_USAGE
