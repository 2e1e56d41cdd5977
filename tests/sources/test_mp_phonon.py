"""The `mp` source with `data.spectrum: phonon`, against recorded mp-api document shapes: never the network."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from mp_fake import FakePhononMPRester

from dosforge.config import ConfigError
from dosforge.phonon import THZ_TO_CM
from dosforge.phonon.validate import mode_count
from dosforge.records import PhononRecord, iter_record_paths, read_record
from dosforge.sources import fetch
from dosforge.sources.mp_phonon import fetch_mp_phonon

KEY = "sEcReT-mp-key-phonon-0a1b2c3d"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", KEY)


@pytest.fixture()
def params(mp_params) -> dict:
    mp_params["data"]["spectrum"] = "phonon"
    return mp_params


def test_selects_phonon_materials_and_writes_dfpt_records(params, tmp_path):
    clients = []
    report = fetch_mp_phonon(
        params, tmp_path / "raw", lambda key: clients.append(FakePhononMPRester(key)) or clients[-1]
    )
    client = clients[0]
    assert client.api_key == KEY and client.search_calls[0]["has_props"] == ["phonon"]
    assert client.search_calls[0]["include_gnome"] is False
    assert {m for m, _ in client.dos_calls} == {"mp-13", "mp-149", "mp-804"}
    assert all(method == "dfpt" for _, method in client.dos_calls)
    assert report["n_written"] == 2 and [(s["id"], s["reason"]) for s in report["skipped"]] == [
        ("mp-13", "no phonon DOS")
    ]
    recs = {r.id: r for r in map(read_record, iter_record_paths(tmp_path / "raw"))}
    si, gan = recs["mp-149"], recs["mp-804"]
    assert isinstance(si, PhononRecord) and si.source == "mp" and not si.synthetic
    assert si.meta["phonon_method"] == "dfpt" and si.frequency_unit == "cm^-1"
    assert si.frequencies[-1] == pytest.approx(16.5 * THZ_TO_CM)  # THz in the document, cm^-1 in the record
    assert mode_count(si) == pytest.approx(6, rel=0.05) and mode_count(gan) == pytest.approx(12, rel=0.05)
    assert sorted(gan.elements) == ["Ga", "N"]
    np.testing.assert_allclose(gan.elements["Ga"] + gan.elements["N"], gan.total, rtol=1e-12)


def test_phonon_method_is_a_checked_choice(params, tmp_path):
    params["mp"]["phonon_method"] = "pheasy"
    client = FakePhononMPRester(KEY)
    fetch_mp_phonon(params, tmp_path / "raw", lambda key: client)
    assert {method for _, method in client.dos_calls} == {"pheasy"}
    params["mp"]["phonon_method"] = "dft"
    with pytest.raises(ConfigError, match="dfpt, phonopy, pheasy"):
        fetch_mp_phonon(params, tmp_path / "raw2", FakePhononMPRester)


def test_killed_fetch_resumes_from_the_cache(params, tmp_path):
    first = FakePhononMPRester(KEY, interrupt_after=1)
    with pytest.raises(KeyboardInterrupt):
        fetch_mp_phonon(params, tmp_path / "raw", lambda key: first)
    assert not (tmp_path / "cache" / "phonon-dfpt").exists()  # mp-13 has no phonon DOS: nothing to cache
    assert [m for m, _ in first.dos_calls] == ["mp-13"]
    second = FakePhononMPRester(KEY, interrupt_after=2)
    with pytest.raises(KeyboardInterrupt):
        fetch_mp_phonon(params, tmp_path / "raw", lambda key: second)
    assert sorted(p.name for p in (tmp_path / "cache" / "phonon-dfpt").iterdir()) == ["mp-149.json.gz"]
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    third = FakePhononMPRester(KEY)
    report = fetch_mp_phonon(params, tmp_path / "raw", lambda key: third)
    assert third.search_calls == []  # the selection came from the cache
    assert [m for m, _ in third.dos_calls] == ["mp-13", "mp-804"]  # mp-149 is not downloaded twice
    assert report["n_written"] == 2 and report["n_from_cache"] == 1


def test_fully_cached_fetch_never_builds_a_client(params, tmp_path):
    params["mp"]["material_ids"] = ["mp-149", "mp-804"]
    fetch_mp_phonon(params, tmp_path / "raw", FakePhononMPRester)

    def offline(key):
        raise AssertionError("a fully cached resume must not build a client")

    assert fetch_mp_phonon(params, tmp_path / "raw2", offline)["n_from_cache"] == 2


def test_rate_limits_are_retried_and_persistent_ones_reported(params, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr("dosforge.sources.mp.time.sleep", sleeps.append)
    params["mp"].update(backoff_s=0.5, max_retries=2)
    client = FakePhononMPRester(KEY, fail={"mp-149": ["rate_limit", "rate_limit"], "mp-804": ["rate_limit"] * 3})
    report = fetch_mp_phonon(params, tmp_path / "raw", lambda key: client)
    assert [m for m, _ in client.dos_calls].count("mp-149") == 3 and sleeps[:2] == [0.5, 1.0]
    reasons = {s["id"]: s["reason"] for s in report["skipped"]}
    assert reasons == {"mp-13": "no phonon DOS", "mp-804": "download failed"} and report["n_written"] == 1


def test_key_never_reaches_an_output(params, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    params["mp"]["max_retries"] = 0
    client = FakePhononMPRester(KEY, fail={"mp-804": ["rate_limit"]})
    monkeypatch.setattr("dosforge.sources.mp.make_client", lambda key: client)
    report = fetch(params, tmp_path / "raw")
    assert report["spectrum"] == "phonon" and report["skipped_counts"] == {"download failed": 1, "no phonon DOS": 1}
    out = capsys.readouterr()
    assert KEY not in out.out + out.err
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 4
    for p in files:
        raw = p.read_bytes()
        assert KEY.encode() not in (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw), f"key leaked into {p}"
