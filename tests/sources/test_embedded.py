"""The embedded source: bundled real structures, synthetic TB labels, reported selection."""

from __future__ import annotations

import numpy as np
import pytest

from dosforge.config import ConfigError
from dosforge.records import iter_record_paths, read_record
from dosforge.sources import embedded
from dosforge.sources.embedded import POINT_GROUPS, fetch_embedded, load_bundle, select, stratified_sample


def _params(limit, workers=1, **cfg):
    return {"seed": 42, "data": {"source": "embedded", "max_sites": 20}, "embedded": {"limit": limit,
            "workers": workers, **cfg}}  # fmt: skip


def test_bundle_has_real_structures_metals_and_every_point_group():
    bundle = load_bundle()
    origins = {e["origin"] for e in bundle}
    assert origins == {"mp-matbench-dielectric", "prototype"}
    assert sum(e["origin"] == "mp-matbench-dielectric" for e in bundle) > 3000
    small = [e for e in bundle if e["n_sites"] <= 20]
    assert {e["point_group"] for e in small} == set(POINT_GROUPS)
    assert len({e["id"] for e in bundle}) == len(bundle)


def test_default_selection_keeps_metals_and_point_groups():
    chosen, reasons, _, eligible = select(load_bundle(), _params(1200))
    assert len(chosen) == 1200
    assert {e["point_group"] for e in chosen} == {e["point_group"] for e in eligible} == set(POINT_GROUPS)
    assert sum(e["origin"] == "prototype" for e in chosen) >= 300  # the metals are all kept
    assert reasons["not selected (embedded.limit)"] == len(eligible) - 1200
    again, *_ = select(load_bundle(), _params(1200))
    assert [e["id"] for e in again] == [e["id"] for e in chosen]  # seeded


def test_small_selection_stays_mostly_real_structures():
    chosen, *_ = select(load_bundle(), _params(80))
    n_proto = sum(e["origin"] == "prototype" for e in chosen)
    assert len(chosen) == 80 and n_proto == 24  # 30% cap on the metal prototypes


def test_odd_electron_exclusion_applies_to_dft_insulators_only():
    chosen, reasons, skipped, _ = select(load_bundle(), _params(0))
    ids = {e["id"] for e in chosen}
    assert "proto-A1-Cu" in ids and "proto-A1-Al" in ids  # odd electron counts, but metals
    odd = [s for s in skipped if s["reason"].startswith("odd electron")]
    assert odd and all(s["id"].startswith("mb-") for s in odd)
    kept, *_ = select(load_bundle(), _params(0, exclude_odd_electron=False))
    assert len(kept) == len(chosen) + len(odd)


def test_stratified_sample_covers_groups_and_is_proportional():
    rng = np.random.default_rng(0)
    entries = [
        {"id": f"x{i:04d}", "point_group": g}
        for i, g in enumerate(rng.choice(["1", "m", "-3m"], 500, p=[0.8, 0.19, 0.01]))
    ]
    entries.append({"id": "rare", "point_group": "432"})
    got = stratified_sample(entries, 50, seed=1)
    groups = [e["point_group"] for e in got]
    assert len(got) == 50 and "432" in groups and "-3m" in groups
    assert 35 <= groups.count("1") <= 42


def test_fetch_writes_synthetic_records_and_a_complete_report(tmp_path):
    report = fetch_embedded(_params(10), tmp_path)
    paths = iter_record_paths(tmp_path)
    assert report["labelled"] == len(paths) == 10 and report["failed"] == []
    assert report["synthetic"] is True and report["generator"]["version"]
    n_bundle = len(load_bundle())
    assert report["labelled"] + sum(report["skipped"].values()) == n_bundle  # nothing unaccounted for
    for p in paths:
        r = read_record(p)
        assert r.source == "embedded" and r.synthetic and r.gap_origin == "tb"
        assert r.meta["generator"] == "dosforge.tb" and "taper_inner" in r.meta["params"]
        assert r.energies[0] <= r.efermi - 12 and r.energies[-1] >= r.efermi + 12
        assert np.all(np.diff(r.energies) > 0)
        summed = sum(v["up"] for v in r.elements.values())
        np.testing.assert_allclose(summed, r.total["up"], atol=1e-10)
        assert (r.band_gap == 0) == r.is_metal
        assert r.id.startswith(("mb-dielectric-", "proto-"))


def test_labels_bit_identical_for_any_worker_count(tmp_path):
    a = fetch_embedded(_params(6, workers=1), tmp_path / "a")
    b = fetch_embedded(_params(6, workers=2), tmp_path / "b")
    assert a["labelled"] == b["labelled"] == 6
    for pa, pb in zip(iter_record_paths(tmp_path / "a"), iter_record_paths(tmp_path / "b"), strict=True):
        assert pa.read_bytes() == pb.read_bytes()


def test_failures_are_reported_with_reasons(tmp_path, monkeypatch):
    good = next(e for e in load_bundle() if e["id"] == "proto-A1-Cu")
    lonely = dict(good, id="proto-bad-lonely", lattice=[[40.0, 0, 0], [0, 40.0, 0], [0, 0, 40.0]])
    neptunium = dict(good, id="proto-bad-Np", species=["Np"])
    monkeypatch.setattr(embedded, "load_bundle", lambda: [good, lonely, neptunium])
    report = fetch_embedded(_params(0), tmp_path)
    assert report["labelled"] == 1
    assert [f["id"] for f in report["failed"]] == ["proto-bad-lonely"]
    assert "no neighbour" in report["failed"][0]["reason"]
    assert any(s["id"] == "proto-bad-Np" and "unsupported element" in s["reason"] for s in report["skipped_structures"])


def test_unknown_parameter_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="kpra"):
        fetch_embedded(_params(5, kpra=100), tmp_path)
