"""`dosforge.sources.fetch`: dispatch on data.source, the report, a clean records folder."""

from __future__ import annotations

import pytest

from dosforge.config import ConfigError
from dosforge.io import read_json
from dosforge.records import iter_record_paths
from dosforge.sources import fetch, skipped_items


def test_unknown_source_lists_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="embedded, mp, files"):
        fetch({"data": {"source": "nomad"}}, tmp_path)


def test_report_is_written_and_stale_records_removed(fixtures_dir, tmp_path):
    stale = tmp_path / "raw" / "records" / "old.json.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    params = {"data": {"source": "files", "path": str(fixtures_dir), "max_sites": 20}}
    report = fetch(params, tmp_path / "raw")
    on_disk = read_json(tmp_path / "raw" / "fetch_report.json")
    assert on_disk["source"] == "files" and on_disk["synthetic"] is False
    assert on_disk["n_records"] == 4 == len(iter_record_paths(tmp_path / "raw"))
    assert on_disk["skipped_counts"] == {"too many sites": 1}  # LiFe4(PO4)4 has 25 sites
    assert report == on_disk and not stale.exists()


def test_skipped_items_read_both_report_forms():
    listed = {"skipped": [{"id": "a", "reason": "too many sites"}]}
    counted = {
        "skipped": {"noble gas": 1},  # the embedded report: counts here, items beside them
        "skipped_structures": [{"id": "b", "reason": "noble gas"}],
        "failed": [{"id": "c", "reason": "labelling failed: no neighbours"}],
    }
    assert skipped_items(listed) == listed["skipped"]
    assert [i["id"] for i in skipped_items(counted)] == ["b", "c"]
