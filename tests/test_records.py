"""The `.dosrec` raw record: the same values as the gzipped JSON it replaced, bit for bit; legacy files still read."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dosforge.io import write_json
from dosforge.records import (
    RawRecord,
    decode_record,
    encode_record,
    iter_record_paths,
    read_record,
    record_id_from_path,
    record_path,
    safe_name,
    write_record,
)


def _record(rng) -> RawRecord:
    energies = np.sort(rng.normal(size=50)) * 7
    return RawRecord(
        id="mp-1/odd id",
        source="files",
        synthetic=False,
        structure={"lattice": {"matrix": [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]}, "sites": []},
        efermi=float(rng.normal()),
        energies=energies,
        total={"up": rng.random(50), "down": rng.random(50)},
        elements={"Si": {"up": rng.random(50), "down": rng.random(50)}, "O": {"up": rng.random(49), "down": []}},
        band_gap=None,
        gap_origin="dos",
        meta={"file": "a/vasprun.xml.gz", "converged": True},
    )


def _assert_same(a: RawRecord, b: RawRecord) -> None:
    assert a.structure == b.structure and a.meta == b.meta and a.id == b.id and a.band_gap == b.band_gap
    assert a.efermi == b.efermi or (math.isnan(a.efermi) and math.isnan(b.efermi))
    np.testing.assert_array_equal(a.energies, b.energies)
    assert a.total.keys() == b.total.keys()
    for s in a.total:
        assert a.total[s].tobytes() == b.total[s].tobytes()
    assert (a.elements is None) == (b.elements is None)
    for el, spins in (a.elements or {}).items():
        for s, v in spins.items():
            assert np.asarray(v, dtype=float).tobytes() == np.asarray(b.elements[el][s], dtype=float).tobytes()


def test_binary_record_holds_the_same_float64_bits_as_the_json_record(tmp_path):
    rec = _record(np.random.default_rng(0))
    legacy = tmp_path / "records" / (safe_name(rec.id) + ".json.gz")
    write_json(legacy, rec.to_dict(), indent=None)  # what fetch wrote before issue 14
    path = write_record(tmp_path, rec)
    assert path.name == "mp-1_odd_id.dosrec" and record_id_from_path(path) == "mp-1_odd_id"
    _assert_same(read_record(path), read_record(legacy))
    _assert_same(read_record(path), rec)
    assert iter_record_paths(tmp_path) == sorted([legacy, path])
    assert read_record(path).total["up"].flags.writeable  # arrays as usable as the parsed JSON ones


def test_odd_values_survive_and_no_projections_stay_none():
    rec = _record(np.random.default_rng(1))
    rec.efermi, rec.elements, rec.total = float("nan"), None, {"up": np.array([np.inf, 1.0])}
    back = decode_record(encode_record(rec))
    assert math.isnan(back.efermi) and back.elements is None and back.total["up"][0] == np.inf


def test_truncated_or_foreign_files_are_errors():
    data = encode_record(_record(np.random.default_rng(2)))
    with pytest.raises(ValueError, match="truncated"):
        decode_record(data[:-8])
    with pytest.raises(ValueError, match="not a .dosrec record"):
        decode_record(b"\x1f\x8b" + data)


def test_record_path_finds_legacy_records(tmp_path):
    rec = _record(np.random.default_rng(3))
    assert record_path(tmp_path, rec.id).name == "mp-1_odd_id.dosrec"
    write_json(tmp_path / "records" / "mp-1_odd_id.json.gz", rec.to_dict())
    assert record_path(tmp_path, rec.id).name == "mp-1_odd_id.json.gz"
    write_record(tmp_path, rec)
    assert record_path(tmp_path, rec.id).name == "mp-1_odd_id.dosrec"
