"""`fetch`: write one record per material under `<raw_dir>/records/` for the source chosen by `data.source`.

`data.spectrum` picks the kind: `electron` (the default, `RawRecord`) or `phonon` (`PhononRecord`, the
`*_phonon` modules of each source). The electron report is written as before (no `spectrum` key).

Every source returns a report (counts, skipped items with reasons); the dispatcher adds the source
and synthetic flag and writes it to `<raw_dir>/fetch_report.json`. Records from a previous run are
removed first, so the raw folder always holds exactly one source's output (the `mp` download cache
lives elsewhere, under `mp.cache_dir`, and survives).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dosforge.config import choice
from dosforge.io import write_json
from dosforge.records import SOURCES, SPECTRA, iter_record_paths

SYNTHETIC = {"embedded": True, "mp": False, "files": False}


def fetch(params: dict, raw_dir: str | Path) -> dict:
    """Run the source named by `params["data"]["source"]` and write `fetch_report.json`; return the report."""
    raw_dir = Path(raw_dir)
    source = choice(params.get("data", {}).get("source", "embedded"), SOURCES, "data.source")
    spectrum = choice(params.get("data", {}).get("spectrum", "electron"), SPECTRA, "data.spectrum")
    records_dir = raw_dir / "records"
    if records_dir.exists():
        shutil.rmtree(records_dir)
    records_dir.mkdir(parents=True, exist_ok=True)

    if spectrum == "phonon":
        fetcher = phonon_fetcher(source)
    elif source == "embedded":  # issue 3's module, imported lazily so the other sources work without it
        from dosforge.sources.embedded import fetch_embedded as fetcher
    elif source == "mp":
        from dosforge.sources.mp import fetch_mp as fetcher
    else:
        from dosforge.sources.files import fetch_files as fetcher

    report = dict(fetcher(params, raw_dir))
    report.setdefault("source", source)
    report.setdefault("synthetic", SYNTHETIC[source])
    report.setdefault("skipped", [])
    items = skipped_items(report)
    if spectrum == "phonon":
        report["spectrum"] = "phonon"
    report["n_records"] = len(iter_record_paths(raw_dir))
    report["n_skipped"] = len(items)
    report["skipped_counts"] = count_reasons(items)
    write_json(raw_dir / "fetch_report.json", report)
    return report


def phonon_fetcher(source: str):
    """The phonon fetcher of a source, imported lazily (chgnet and phonopy load only when labelling)."""
    if source == "embedded":
        from dosforge.sources.embedded_phonon import fetch_embedded_phonon

        return fetch_embedded_phonon
    if source == "mp":
        from dosforge.sources.mp_phonon import fetch_mp_phonon

        return fetch_mp_phonon
    from dosforge.sources.files_phonon import fetch_files_phonon

    return fetch_files_phonon


def skipped_items(report: dict) -> list[dict]:
    """The items a fetch left out, each `{id, reason, ...}`.

    `mp` and `files` list them under `skipped`; the `embedded` report keeps counts there and the items
    under `skipped_structures` (selection) and `failed` (labelling), so both forms are read.
    """
    skipped = report.get("skipped", [])
    if isinstance(skipped, list):
        return skipped
    return [*report.get("skipped_structures", []), *report.get("failed", [])]


def count_reasons(skipped: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in skipped:
        counts[item["reason"]] = counts.get(item["reason"], 0) + 1
    return dict(sorted(counts.items()))


def skip(item_id: str, reason: str, detail: str = "", source_file: str = "") -> dict:
    """One skipped item of a fetch report (preprocess copies these into rejects.csv)."""
    return {"id": item_id, "source_file": source_file, "reason": reason, "detail": detail}
