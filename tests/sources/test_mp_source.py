"""The `mp` source against a fake client replaying recorded mp-api shapes: nothing touches the network."""

from __future__ import annotations

import gzip

import pytest
from mp_fake import FakeMPRester

from dosforge.config import ConfigError
from dosforge.records import iter_record_paths, read_record
from dosforge.sources import fetch
from dosforge.sources.mp import Retrier, RetryableError, build_query, fetch_mp, is_retryable

KEY = "sEcReT-mp-key-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", KEY)


def test_query_filters_dos_and_excludes_gnome(mp_params):
    mp_params["mp"].update(elements=["Si"], material_ids=["mp-804", "mp-149"], num_sites=[1, 8])
    q = build_query(mp_params)
    assert q["has_props"] == ["dos"] and q["include_gnome"] is False
    assert q["elements"] == ["Si"] and q["material_ids"] == ["mp-149", "mp-804"]
    assert q["num_sites"] == (1, 8) and q["energy_above_hull"] == (0.0, 0.1)
    mp_params["mp"]["num_sites"] = None
    assert build_query(mp_params)["num_sites"] == (1, 20)  # falls back to data.max_sites


def test_fetch_writes_records_with_dft_labels(mp_params, tmp_path):
    clients = []

    def factory(key):
        clients.append(FakeMPRester(key))
        return clients[-1]

    report = fetch_mp(mp_params, tmp_path / "raw", client_factory=factory)
    client = clients[0]
    assert client.api_key == KEY
    assert report["n_written"] == 3 and report["n_downloaded"] == 3 and not report["skipped"]
    assert all(load for _, load in client.dos_calls), "projections must be requested"
    recs = {r.id: r for r in map(read_record, iter_record_paths(tmp_path / "raw"))}
    assert sorted(recs) == ["mp-13", "mp-149", "mp-804"]  # the GNoME entry never becomes a record
    fe, si = recs["mp-13"], recs["mp-149"]
    assert fe.magnetic_ordering == "FM" and fe.is_metal and set(fe.total) == {"up", "down"}
    assert si.gap_origin == "dft" and si.band_gap > 0.5 and not si.synthetic and si.source == "mp"
    assert set(si.elements) == {"Si"}


def test_gnome_entries_dropped_even_if_server_returns_them(mp_params, tmp_path):
    class Leaky(FakeMPRester):
        def search(self, **query):
            return super().search(**{**query, "include_gnome": True})

    report = fetch_mp(mp_params, tmp_path / "raw", client_factory=Leaky)
    assert report["n_selected"] == 3


def test_killed_fetch_resumes_without_loss_or_duplicates(mp_params, tmp_path):
    first = FakeMPRester(KEY, interrupt_after=2)
    with pytest.raises(KeyboardInterrupt):
        fetch_mp(mp_params, tmp_path / "raw", client_factory=lambda key: first)
    cached = sorted(p.name for p in (tmp_path / "cache" / "materials").iterdir())
    assert cached == ["mp-13.json.gz", "mp-149.json.gz"]  # the two finished ones, whole
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # nothing half-written
    for p in (tmp_path / "cache" / "materials").iterdir():
        gzip.open(p).read()

    second = FakeMPRester(KEY)
    report = fetch_mp(mp_params, tmp_path / "raw", client_factory=lambda key: second)
    assert second.search_calls == []  # the selection came from the cache too
    assert [m for m, _ in second.dos_calls] == ["mp-804"]  # only what was missing
    all_calls = [m for m, _ in first.dos_calls] + [m for m, _ in second.dos_calls]
    assert sorted(all_calls) == ["mp-13", "mp-149", "mp-804"]  # each material downloaded exactly once
    assert report["n_written"] == 3 and report["n_from_cache"] == 2
    assert len(iter_record_paths(tmp_path / "raw")) == 3


def test_fully_cached_fetch_never_builds_a_client(mp_params, tmp_path):
    fetch_mp(mp_params, tmp_path / "raw", client_factory=FakeMPRester)

    def offline(key):
        raise AssertionError("the client must not be constructed when everything is cached")

    assert fetch_mp(mp_params, tmp_path / "raw2", client_factory=offline)["n_written"] == 3


def test_rate_limit_and_server_errors_are_retried_with_backoff(mp_params, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr("dosforge.sources.mp.time.sleep", sleeps.append)
    mp_params["mp"]["backoff_s"] = 0.5
    client = FakeMPRester(KEY, fail={"mp-149": ["rate_limit", "server"]})
    report = fetch_mp(mp_params, tmp_path / "raw", client_factory=lambda key: client)
    assert report["n_written"] == 3
    assert [m for m, _ in client.dos_calls].count("mp-149") == 3
    assert sleeps == [0.5, 1.0]  # exponential


def test_persistent_errors_are_reported_not_fatal(mp_params, tmp_path):
    mp_params["mp"].update(max_retries=1, material_ids=["mp-149", "mp-804", "mp-999"])
    client = FakeMPRester(KEY, fail={"mp-149": ["rate_limit"] * 5})
    client._docs = client._docs + [{**client._docs[0], "material_id": "mp-999"}]
    report = fetch_mp(mp_params, tmp_path / "raw", client_factory=lambda key: client)
    reasons = {s["id"]: s["reason"] for s in report["skipped"]}
    assert reasons == {"mp-149": "download failed", "mp-999": "no DOS"}
    mp_params["mp"]["material_ids"] = ["mp-149", "mp-3000001"]  # the second is the GNoME entry
    again = fetch_mp(mp_params, tmp_path / "raw2", client_factory=lambda key: FakeMPRester(key))
    assert [(s["id"], s["reason"]) for s in again["skipped"]] == [("mp-3000001", "not selected")]
    assert report["n_written"] == 1


def test_retry_classification():
    assert is_retryable(Exception("REST query returned with error status code 429 on URL x"))
    assert is_retryable(Exception("REST query returned with error status code 502 on URL x"))
    assert not is_retryable(Exception("REST query returned with error status code 404 on URL x"))
    assert not is_retryable(ValueError("bad"))
    calls = []
    with pytest.raises(RetryableError):
        Retrier(2, 0.0, sleep=calls.append)(lambda: (_ for _ in ()).throw(Exception("error status code 500")))
    assert len(calls) == 2


def test_missing_key_is_a_clear_error(mp_params, tmp_path, monkeypatch):
    monkeypatch.delenv("MP_API_KEY")
    with pytest.raises(ConfigError, match="MP_API_KEY"):
        fetch_mp(mp_params, tmp_path / "raw", client_factory=FakeMPRester)


def test_key_never_reaches_an_output(mp_params, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    mp_params["mp"]["max_retries"] = 0
    mp_params["mp"]["material_ids"] = ["mp-149", "mp-804", "mp-13"]
    client = FakeMPRester(KEY, fail={"mp-804": ["rate_limit"]})  # an error message path as well
    monkeypatch.setattr("dosforge.sources.mp.make_client", lambda key: client)
    report = fetch(mp_params, tmp_path / "raw")
    assert report["skipped_counts"] == {"download failed": 1}
    out = capsys.readouterr()
    assert KEY not in out.out + out.err
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 6
    for p in files:
        raw = p.read_bytes()
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        assert KEY.encode() not in text, f"API key leaked into {p}"
