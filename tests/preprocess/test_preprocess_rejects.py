"""Every kind of bad record is rejected with its reason into rejects.csv; nothing is dropped silently."""

from __future__ import annotations

import copy
import csv

import numpy as np
import pytest
from real_fixtures import complete_dos, graph_failing_for_gan

from dosforge.io import write_json
from dosforge.preprocess import preprocess, validate
from dosforge.records import record_filename, write_record
from dosforge.sources.files import record_from_complete_dos


def _mutations():
    """id -> (mutation of a good Si record, expected reason)."""

    def nan_total(r):
        r.total["up"][100] = np.nan

    def inf_efermi(r):
        r.efermi = float("inf")

    def inf_projection(r):
        r.elements["Si"]["up"][5] = np.inf

    def not_increasing(r):
        r.energies[300], r.energies[301] = r.energies[301], r.energies[300]

    def window_short(r):
        keep = r.energies < r.efermi + 5.0
        r.energies = r.energies[keep]
        r.total = {s: v[keep] for s, v in r.total.items()}
        r.elements = {el: {s: v[keep] for s, v in sp.items()} for el, sp in r.elements.items()}

    def no_projections(r):
        r.elements = None

    def wrong_projections(r):
        r.elements = {"Ge": r.elements["Si"]}

    def partial_occupancy(r):
        r.structure["sites"][0]["species"][0]["occu"] = 0.5

    def disordered(r):
        r.structure["sites"][0]["species"] = [{"element": "Si", "occu": 0.5}, {"element": "Ge", "occu": 0.5}]

    def empty(r):
        r.structure["sites"] = []

    def noble_gas(r):
        for site in r.structure["sites"]:
            site["species"] = [{"element": "Ar", "occu": 1}]
            site["label"] = "Ar"
        r.elements = {"Ar": r.elements["Si"]}

    def bad_structure(r):
        r.structure = {"lattice": "nonsense"}

    def length_mismatch(r):
        r.total["up"] = r.total["up"][:-1]

    def no_gap(r):
        r.band_gap = None

    def zero_dos(r):
        r.total = {s: np.zeros_like(v) for s, v in r.total.items()}

    return {
        "nan-total": (nan_total, validate.NON_FINITE),
        "inf-efermi": (inf_efermi, validate.NON_FINITE),
        "inf-projection": (inf_projection, validate.NON_FINITE),
        "not-increasing": (not_increasing, validate.NOT_INCREASING),
        "window-short": (window_short, validate.NOT_COVERED),
        "no-projections": (no_projections, validate.NO_PROJECTIONS),
        "wrong-projections": (wrong_projections, validate.NO_PROJECTIONS),
        "partial-occupancy": (partial_occupancy, validate.DISORDERED),
        "disordered": (disordered, validate.DISORDERED),
        "empty": (empty, validate.EMPTY),
        "noble-gas": (noble_gas, validate.NOBLE_GAS),
        "bad-structure": (bad_structure, validate.UNPARSEABLE),
        "length-mismatch": (length_mismatch, validate.SHAPE),
        "no-gap": (no_gap, validate.NO_GAP),
        "zero-dos": (zero_dos, validate.ZERO_DOS),
    }


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    raw = tmp_path_factory.mktemp("crafted_raw")
    good = record_from_complete_dos(complete_dos("es_dos_objs-1"), "good", "files")
    write_record(raw, good)
    expected = {}
    for rid, (mutate, reason) in _mutations().items():
        rec = copy.deepcopy(good)
        rec.id = rid
        mutate(rec)
        write_record(raw, rec)
        expected[rid] = reason
    write_record(raw, record_from_complete_dos(complete_dos("GaN_dos"), "graph-fails", "files"))
    expected["graph-fails"] = validate.GRAPH_FAILED
    (raw / "records" / record_filename("garbage")).write_bytes(b"\x1f\x8b not really gzip")
    expected["garbage"] = validate.UNPARSEABLE
    fetch_skip = {"id": "huge", "source_file": "huge/vasprun.xml", "reason": "too many sites", "detail": "64 > 20"}
    write_json(raw / "fetch_report.json", {"source": "files", "synthetic": False, "skipped": [fetch_skip]})
    expected["huge"] = "too many sites"
    out = tmp_path_factory.mktemp("crafted_processed")
    params = {"grid": {"emin": -10.0, "emax": 10.0, "bins": 256}, "preprocess": {"workers": 1}}
    manifest = preprocess(raw, out, params, graph_builder=graph_failing_for_gan, progress=False)
    with open(out / "rejects.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return manifest, rows, expected


def test_each_bad_record_rejected_with_its_reason(crafted):
    manifest, rows, expected = crafted
    got = {r["id"]: r["reason"] for r in rows}
    assert got == expected
    assert all(r["detail"] for r in rows if r["id"] != "empty")
    assert manifest["ids"] == ["good"]


def test_nothing_dropped_silently(crafted):
    manifest, rows, expected = crafted
    assert manifest["n_materials"] + manifest["n_rejected"] == manifest["n_records"] + 1  # +1: the fetch skip
    assert sum(manifest["rejected_by_reason"].values()) == len(rows) == len(expected)
    stages = {r["id"]: r["stage"] for r in rows}
    assert stages["huge"] == "fetch" and stages["nan-total"] == "preprocess"


def test_stage_prints_counts_per_reason(crafted, tmp_path, monkeypatch, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "preprocess_stage", Path(__file__).parents[2] / "stages/preprocess.py"
    )
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    raw = tmp_path / "raw"
    good = record_from_complete_dos(complete_dos("es_dos_objs-1"), "good", "files")
    write_record(raw, good)
    bad = copy.deepcopy(good)
    bad.id, bad.elements = "bad", None
    write_record(raw, bad)
    (tmp_path / "params.yaml").write_text("grid: {emin: -10, emax: 10, bins: 256}\npreprocess: {graphs: false}\n")
    rc = stage.main(["--params", str(tmp_path / "params.yaml"), "--raw", str(raw), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0 and "1 materials kept of 2 records; 1 rejected" in out
    assert "1  projections missing" in out


def test_unforeseen_error_is_one_reject_not_a_lost_run(tmp_path, monkeypatch):
    from dosforge.preprocess import spectra

    good = record_from_complete_dos(complete_dos("es_dos_objs-1"), "good", "files")
    write_record(tmp_path / "raw", good)
    monkeypatch.setattr(spectra, "grid_spectra", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    params = {"grid": {"emin": -10.0, "emax": 10.0, "bins": 256}, "preprocess": {"workers": 1, "graphs": False}}
    manifest = preprocess(tmp_path / "raw", tmp_path / "out", params, progress=False)
    assert manifest["rejected_by_reason"] == {validate.UNEXPECTED: 1}
    assert "RuntimeError: boom" in (tmp_path / "out" / "rejects.csv").read_text()


def test_default_graph_builder_uses_the_graph_params(monkeypatch):
    import sys
    import types

    from dosforge.preprocess.pipeline import default_graph_builder

    calls = []
    fake = types.ModuleType("dosforge.graph")
    fake.build_graph = lambda structure, cutoff=1.0, max_neighbors=1: calls.append((cutoff, max_neighbors)) or {}
    monkeypatch.setitem(sys.modules, "dosforge.graph", fake)
    builder = default_graph_builder({"graph": {"cutoff": 4.0, "max_neighbors": 25, "not_an_argument": 1}})
    builder("structure")
    assert calls == [(4.0, 25)]
