"""The `embedded` source with `data.spectrum: phonon`: selection, report, resume from the per-material cache."""

from __future__ import annotations

import pytest

from dosforge.config import ConfigError
from dosforge.records import PhononRecord, iter_record_paths, read_record
from dosforge.sources import embedded_phonon as ep
from dosforge.sources import fetch
from dosforge.sources.embedded import load_bundle

IDS = ("proto-B1-HfC", "proto-A2-Pd")


def _params(tmp_path, **labels) -> dict:
    cfg = {"limit": 0, "cache_dir": str(tmp_path / "cache"), "workers": 1, "relax_steps": 40, "mesh": 12.0}
    return {"seed": 42, "data": {"source": "embedded", "spectrum": "phonon"}, "phonon_labels": {**cfg, **labels}}


def test_selection_rules_and_seeded_sample():
    bundle = load_bundle()
    chosen, skipped, left_out = ep.select(bundle, {"max_sites": 8, "limit": 48}, seed=42)
    assert len(chosen) == 48 and all(e["n_sites"] <= 8 for e in chosen)
    assert chosen == ep.select(bundle, {"max_sites": 8, "limit": 48}, seed=42)[0]  # deterministic
    assert chosen != ep.select(bundle, {"max_sites": 8, "limit": 48}, seed=7)[0]
    assert {s["reason"] for s in skipped} <= {"noble gas", "element outside CHGNet's training set"}
    assert left_out == len(bundle) - len(chosen) - len(skipped)  # every bundled structure is accounted for
    assert len({e["point_group"] for e in chosen}) >= 20  # stratified by point group


def test_fetch_labels_excludes_unstable_and_resumes_from_cache(tmp_path, monkeypatch):
    entries = [e for e in load_bundle() if e["id"] in IDS]
    monkeypatch.setattr(ep, "load_bundle", lambda: entries)
    report = fetch(_params(tmp_path), tmp_path / "raw")
    assert report["spectrum"] == "phonon" and report["synthetic"] is True
    assert report["labelled"] == 1 and report["excluded_unstable"] == 1 and report["n_from_cache"] == 0
    assert list(report["skipped_counts"]) == [ep.UNSTABLE] and report["skipped"][0]["id"] == "proto-A2-Pd"
    assert report["generator"]["chgnet"] and report["generator"]["phonopy"]
    (path,) = iter_record_paths(tmp_path / "raw")
    first = path.read_bytes()  # .dosrec: no time stamp, the bytes themselves must repeat
    assert isinstance(read_record(path), PhononRecord)

    def never(*args, **kwargs):
        raise AssertionError("a cached material must not be labelled again")

    monkeypatch.setattr(ep, "label_phonons", never)
    again = fetch(_params(tmp_path), tmp_path / "raw")
    assert again["n_from_cache"] == 2 and again["labelled"] == 1 and again["excluded_unstable"] == 1
    assert iter_record_paths(tmp_path / "raw")[0].read_bytes() == first  # the same record from the cache

    changed = fetch(_params(tmp_path, sigma_cm=6.0), tmp_path / "raw")  # another generator config: no reuse
    assert changed["n_from_cache"] == 0 and changed["labelled"] == 0
    assert changed["skipped_counts"] == {"labelling failed": 2}  # failures are reported, not cached
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_unknown_label_parameter_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        fetch(_params(tmp_path, fmaxx=0.1), tmp_path / "raw")
    with pytest.raises(ConfigError, match="electron, phonon"):
        fetch({"data": {"source": "embedded", "spectrum": "xray"}}, tmp_path / "raw")
