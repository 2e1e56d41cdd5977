"""Stage-by-stage processing of a batch (`stages`) gives each record the result it gets alone."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from real_fixtures import GRID, complete_dos, graph_failing_for_gan, stand_in_graph

from dosforge.grid import EnergyGrid
from dosforge.preprocess import stages, validate
from dosforge.preprocess.pipeline import init_worker, process_path, process_paths, process_record
from dosforge.records import read_record, record_filename, write_record
from dosforge.sources.files import record_from_complete_dos


def test_run_moves_every_work_through_a_stage_before_the_next():
    log = []

    def work(name, n_stages):
        for k in range(n_stages):
            log.append((k, name))
            yield
        return name.upper()

    assert stages.run([work("a", 3), work("b", 1), work("c", 2)]) == ["A", "B", "C"]
    assert log == [(0, "a"), (0, "b"), (0, "c"), (1, "a"), (1, "c"), (2, "a")]
    assert stages.run([]) == []
    assert [len(b) for b in stages.batches(range(70), 32)] == [32, 32, 6]


@pytest.fixture(scope="module")
def mixed_records(tmp_path_factory):
    """Good records and records rejected at each stage: reading, validation, spectra, graph."""
    raw = tmp_path_factory.mktemp("mixed_raw")
    good = record_from_complete_dos(complete_dos("es_dos_objs-1"), "good", "files")
    write_record(raw, good)
    write_record(raw, record_from_complete_dos(complete_dos("Fe_dos"), "fe", "files"))
    write_record(raw, record_from_complete_dos(complete_dos("GaN_dos"), "graph-fails", "files"))
    for rid, mutate in {
        "nan-total": lambda r: r.total["up"].__setitem__(100, np.nan),
        "zero-dos": lambda r: setattr(r, "total", {s: np.zeros_like(v) for s, v in r.total.items()}),
        "bad-structure": lambda r: setattr(r, "structure", {"lattice": "nonsense"}),
    }.items():
        rec = copy.deepcopy(good)
        rec.id = rid
        mutate(rec)
        write_record(raw, rec)
    (raw / "records" / record_filename("garbage")).write_bytes(b"not a record")
    return sorted((raw / "records").iterdir())


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        if isinstance(a[k], dict):
            if not _same(a[k], b[k]):
                return False
        elif isinstance(a[k], np.ndarray):
            if not (a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k])):
                return False
        elif a[k] != b[k]:
            return False
    return True


def test_batch_results_equal_one_by_one(mixed_records):
    init_worker(EnergyGrid.from_params({"grid": GRID}), graph_failing_for_gan, "interpolate")
    alone = [process_path(p) for p in mixed_records]
    together = process_paths(mixed_records)
    assert len(together) == len(alone) == 7
    assert all(_same(a, t) for a, t in zip(alone, together, strict=True))
    reasons = {r["id"]: r.get("reason") for r in together}
    assert reasons == {
        "bad-structure": validate.UNPARSEABLE,
        "fe": None,
        "garbage": validate.UNPARSEABLE,
        "good": None,
        "graph-fails": validate.GRAPH_FAILED,
        "nan-total": validate.NON_FINITE,
        "zero-dos": validate.ZERO_DOS,
    }


def test_process_record_raises_the_reject(mixed_records):
    grid = EnergyGrid.from_params({"grid": GRID})
    record = read_record(next(p for p in mixed_records if "zero-dos" in p.name))
    with pytest.raises(validate.Reject) as rej:
        process_record(record, grid, stand_in_graph)
    assert rej.value.reason == validate.ZERO_DOS
