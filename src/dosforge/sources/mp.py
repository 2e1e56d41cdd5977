"""The `mp` source: the Materials Project through mp-api, resumable and cached per material.

Selection: `materials.summary.search(has_props=["dos"], include_gnome=False, ...)` with the filters of
the `mp` params section (never an unfiltered search). Per material the DOS with projections
(`get_dos_by_material_id(id, load_projections=True)`) plus the summary's E_F, band gap, metal flag
and magnetic ordering.

Resume: the selection and every material are cached under `mp.cache_dir` (outside the DVC output,
gitignored) with atomic writes, so a fetch killed at any point restarts where it stopped: a cached
file is complete by construction, nothing is downloaded twice, nothing is half-written.

The API key comes from the `MP_API_KEY` environment variable only. It is handed to the client and
nowhere else: not to params, the report, the cache, a log or an exception message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from pymatgen.electronic_structure.dos import CompleteDos
from tqdm import tqdm

from dosforge.config import ConfigError, known_keys
from dosforge.io import read_json, write_json
from dosforge.records import safe_name, write_record
from dosforge.sources.files import record_from_complete_dos

MP_KEYS = (
    "elements",
    "exclude_elements",
    "num_sites",
    "energy_above_hull",
    "limit",
    "material_ids",
    "cache_dir",
    "max_retries",
    "backoff_s",
    "phonon_method",
)
SUMMARY_FIELDS = [
    "material_id",
    "formula_pretty",
    "structure",
    "nsites",
    "efermi",
    "band_gap",
    "is_metal",
    "ordering",
    "energy_above_hull",
]
GNOME_BATCH = "gnome_r2scan_statics"  # mp-api's own marker for GNoME entries (include_gnome=False filters on it)


def make_client(api_key: str):
    """The real client. MPRester goes online when constructed, so it is built only here (tests replace this)."""
    from mp_api.client import MPRester

    return MPRester(api_key=api_key, mute_progress_bars=True)


def fetch_mp(params: dict, raw_dir: str | Path, client_factory: Callable[[str], object] | None = None) -> dict:
    from dosforge.sources import skip

    cfg = known_keys(dict(params.get("mp") or {}), MP_KEYS, "mp")
    api_key = api_key_from_env()
    get_client = lazy_client(api_key, client_factory or make_client)
    retry = Retrier(int(cfg.get("max_retries", 6)), float(cfg.get("backoff_s", 2.0)))
    cache = Path(cfg.get("cache_dir") or "data/cache/mp")
    query = build_query(params)
    docs = select(query, int(cfg.get("limit") or 0), cache, get_client, retry)

    skipped, written, downloaded = [], 0, 0
    selected = {d["material_id"] for d in docs}
    for mid in query.get("material_ids", []):  # an explicit id the search did not return is reported, not lost
        if mid not in selected:
            skipped.append(skip(mid, "not selected", "no DOS in MP, a GNoME entry, or outside the mp/data filters"))
    for doc in tqdm(docs, desc="fetch mp", unit="material"):
        mid = doc["material_id"]
        entry_path = cache / "materials" / f"{safe_name(mid)}.json.gz"
        entry, failure, fresh = cached_entry(
            entry_path,
            lambda mid=mid: get_client().get_dos_by_material_id(mid, load_projections=True).as_dict(),
            doc, retry, api_key, "no DOS",
        )  # fmt: skip
        if failure:
            skipped.append(skip(mid, *failure))
            continue
        downloaded += fresh
        summary = entry["summary"]
        gap = summary.get("band_gap")
        rec = record_from_complete_dos(
            CompleteDos.from_dict(entry["dos"]),
            mid,
            "mp",
            band_gap=None if gap is None else float(gap),
            gap_origin=None if gap is None else "dft",
            is_metal=summary.get("is_metal"),
            magnetic_ordering=summary.get("ordering"),
            meta={k: summary.get(k) for k in ("formula_pretty", "efermi", "energy_above_hull", "nsites")},
        )
        write_record(raw_dir, rec)
        written += 1
    return {
        "query": {k: v for k, v in query.items() if k != "fields"},
        "n_selected": len(docs),
        "n_downloaded": downloaded,
        "n_from_cache": written - downloaded,
        "n_written": written,
        "skipped": skipped,
    }


def api_key_from_env() -> str:
    api_key = os.environ.get("MP_API_KEY", "").strip()
    if not api_key:
        raise ConfigError(
            "data.source=mp needs a Materials Project API key in the MP_API_KEY environment variable "
            "(export MP_API_KEY=...; it is read from there only and never written to params or outputs)"
        )
    return api_key


def lazy_client(api_key: str, factory: Callable[[str], object]) -> Callable[[], object]:
    """A getter that builds the client on first need: a fully cached resume never goes online."""
    client = None

    def get_client():
        nonlocal client
        if client is None:
            client = factory(api_key)
        return client

    return get_client


def build_query(params: dict, has_prop: str = "dos") -> dict:
    """The summary search arguments. `has_props=[has_prop]` and `include_gnome=False` are always set."""
    cfg = params.get("mp") or {}
    query: dict = {"has_props": [has_prop], "include_gnome": False, "fields": SUMMARY_FIELDS}
    max_sites = params.get("data", {}).get("max_sites")
    num_sites = cfg.get("num_sites")
    if num_sites is not None:
        query["num_sites"] = tuple(num_sites) if isinstance(num_sites, list | tuple) else (1, int(num_sites))
    elif max_sites:
        query["num_sites"] = (1, int(max_sites))
    if cfg.get("elements"):
        query["elements"] = list(cfg["elements"])
    if cfg.get("exclude_elements"):
        query["exclude_elements"] = list(cfg["exclude_elements"])
    if cfg.get("energy_above_hull") is not None:
        ehull = cfg["energy_above_hull"]
        query["energy_above_hull"] = tuple(ehull) if isinstance(ehull, list | tuple) else (0.0, float(ehull))
    if cfg.get("material_ids"):
        query["material_ids"] = sorted(cfg["material_ids"])
    return query


def select(query: dict, limit: int, cache: Path, get_client, retry) -> list[dict]:
    """Run (or reload) the selection; cached by a hash of the query so a resume asks nothing twice."""
    digest = hashlib.sha256(json.dumps(query, sort_keys=True, default=list).encode()).hexdigest()[:16]
    path = cache / f"selection-{digest}.json.gz"
    if path.exists():
        docs = read_json(path)
    else:
        raw = retry(lambda: get_client().materials.summary.search(**query))
        docs = [_plain(d) for d in raw]
        docs = [d for d in docs if d.get("batch_id") != GNOME_BATCH]  # belt and braces with include_gnome=False
        docs.sort(key=lambda d: d["material_id"])
        write_json(path, docs, indent=None)
    return docs[:limit] if limit > 0 else docs


def _plain(doc) -> dict:
    """A summary doc as plain JSON (mp-api returns pydantic models by default, dicts otherwise)."""
    if hasattr(doc, "model_dump"):
        doc = doc.model_dump(mode="json")
    doc = {k: v for k, v in dict(doc).items() if k in SUMMARY_FIELDS or k == "batch_id"}
    if hasattr(doc.get("structure"), "as_dict"):
        doc["structure"] = doc["structure"].as_dict()
    doc["material_id"] = str(doc["material_id"])
    if doc.get("ordering") is not None:
        doc["ordering"] = str(getattr(doc["ordering"], "value", doc["ordering"]))
    return doc


def cached_entry(path: Path, download, doc: dict, retry, api_key, no_data: str) -> tuple[dict | None, tuple, bool]:
    """(entry, (), downloaded?) from the per-material cache or a retried download written atomically to it, or
    (None, (reason, detail), False) when the download failed (reason "download failed" or `no_data`); the key is
    scrubbed from every detail."""
    entry = read_cached(path)
    if entry is not None:
        return entry, (), False
    try:
        dos = retry(download)
    except RetryableError as exc:
        return None, ("download failed", scrub(str(exc), api_key)), False
    except Exception as exc:  # e.g. MPRestError "no DOS for this id": a per-material failure, reported
        return None, (no_data, scrub(f"{type(exc).__name__}: {exc}", api_key)), False
    entry = {"summary": doc, "dos": dos}
    write_json(path, entry, indent=None)  # atomic: complete or absent
    return entry, (), True


def read_cached(path: Path) -> dict | None:
    """A cached JSON file, or None when absent or damaged (a damaged one is removed, then fetched again)."""
    if not path.exists():
        return None
    try:
        return read_json(path)
    except (OSError, EOFError, ValueError):  # not ours (writes are atomic), but never trust a damaged cache file
        path.unlink()
        return None


class RetryableError(RuntimeError):
    """A request that kept failing with 429/5xx or a connection error after all retries."""


class Retrier:
    """Retry 429 (rate limit), 5xx and connection errors with exponential backoff: backoff_s * 2**attempt."""

    def __init__(self, max_retries: int = 6, backoff_s: float = 2.0, sleep: Callable[[float], None] | None = None):
        self.max_retries, self.backoff_s, self.sleep = max_retries, backoff_s, sleep

    def __call__(self, fn):
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                if attempt == self.max_retries:
                    raise RetryableError(f"gave up after {attempt + 1} attempts: {type(exc).__name__}: {exc}") from exc
                (self.sleep or time.sleep)(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")


def is_retryable(exc: Exception) -> bool:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if status is None:
        m = re.search(r"status code (\d{3})", str(exc))
        status = int(m.group(1)) if m else None
    if status is not None:
        return int(status) == 429 or 500 <= int(status) < 600
    return type(exc).__name__ in {"ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout", "ChunkedEncodingError"}


def scrub(text: str, api_key: str) -> str:
    return text.replace(api_key, "***") if api_key else text
