"""The `embedded` source for `data.spectrum: phonon`: bundled real MP structures, SYNTHETIC phonon labels.

The structures are those of the electron `embedded` source (src/dosforge/data/embedded); the labels come
from `dosforge.phonon.label` (CHGNet universal potential + phonopy), not from DFPT, and every record and
report says so (`synthetic: true`, generator versions in `meta`). Selection: at most
`phonon_labels.max_sites` sites, no noble gas, elements CHGNet was trained on, then a seeded
point-group-stratified sample of `phonon_labels.limit` (the electron source's sampler).

Resumable per material: each finished label (a record, or an exclusion by the imaginary-mode rule) is
cached under `phonon_labels.cache_dir` with a key of the generator versions and params, written
atomically, so a killed fetch restarts where it stopped and a re-run labels nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dosforge import NOBLE_GASES
from dosforge.config import ConfigError, known_keys
from dosforge.io import write_json
from dosforge.phonon.label import LabelParams, generator_versions, label_phonons, to_phonon_record
from dosforge.records import PhononRecord, safe_name, write_record
from dosforge.sources.embedded import BUNDLE, entry_structure, load_bundle, stratified_sample
from dosforge.sources.mp import read_cached

SELECTION_KEYS = ("limit", "max_sites", "selection_seed", "cache_dir", "workers")
CHGNET_MAX_Z = 94  # CHGNet 0.3.0 was trained on MPtrj, elements H..Pu
UNSTABLE = "imaginary modes (lowest mode below phonon_labels.imaginary_threshold_cm)"


def fetch_embedded_phonon(params: dict, raw_dir: str | Path) -> dict:
    from dosforge.sources import skip

    cfg = known_keys(
        dict(params.get("phonon_labels") or {}), (*SELECTION_KEYS, *LabelParams().as_dict()), "phonon_labels"
    )
    label_params = LabelParams.from_dict({k: v for k, v in cfg.items() if k not in SELECTION_KEYS})
    bundle = load_bundle()
    chosen, skipped, not_selected = select(bundle, cfg, int(params.get("seed", 0)))
    versions = generator_versions(label_params)
    cache = Path(cfg.get("cache_dir") or "data/cache/phonon_labels") / cache_key(versions, label_params)
    workers = int(cfg.get("workers") or 0) or os.cpu_count() or 1

    results, todo = {}, []
    for entry in chosen:
        cached = read_cached(cache / f"{safe_name(entry['id'])}.json.gz")
        if cached is None:
            todo.append(entry)
        else:
            results[entry["id"]] = cached
    n_cached = len(results)
    for entry_id, outcome in label_all(todo, label_params, workers):
        if "error" not in outcome:  # failures are not cached: a fixed bug or a retry may label them
            write_json(cache / f"{safe_name(entry_id)}.json.gz", outcome, indent=None)
        results[entry_id] = outcome

    written, lowest = 0, []
    for entry in chosen:
        outcome = results[entry["id"]]
        if "error" in outcome:
            skipped.append(skip(entry["id"], "labelling failed", outcome["error"]))
        elif "record" in outcome:
            write_record(raw_dir, PhononRecord.from_dict(outcome["record"]))
            written += 1
            lowest.append(outcome["record"]["min_frequency"])
        else:
            skipped.append(skip(entry["id"], UNSTABLE, f"lowest mode {outcome['min_frequency']:.1f} cm^-1"))
    n_unstable = sum(1 for o in results.values() if "unstable" in o)
    return {
        "source": "embedded",
        "spectrum": "phonon",
        "synthetic": True,
        "generator": {**versions, "params": label_params.as_dict()},
        "bundle": {"path": BUNDLE.name, "structures": len(bundle)},
        "selected": len(chosen),
        "not_selected": not_selected,
        "labelled": written,
        "excluded_unstable": n_unstable,
        "lowest_mode_cm_of_labelled": {"min": min(lowest), "median": float(np.median(lowest))} if lowest else None,
        "n_from_cache": n_cached,
        "skipped": skipped,
    }


def select(bundle: list[dict], cfg: dict, seed: int) -> tuple[list[dict], list[dict], int]:
    """(chosen entries sorted by id, skipped items with reasons, count left out by the limit)."""
    from dosforge.sources import skip

    max_sites = int(cfg.get("max_sites", 8))
    eligible, skipped = [], []
    for entry in bundle:
        if entry["n_sites"] > max_sites:
            continue  # counted below: thousands of large cells would swamp rejects.csv
        if set(entry["species"]) & NOBLE_GASES:
            skipped.append(skip(entry["id"], "noble gas"))
            continue
        heavy = sorted(s for s in set(entry["species"]) if _z(s) > CHGNET_MAX_Z)
        if heavy:
            skipped.append(skip(entry["id"], "element outside CHGNet's training set", ",".join(heavy)))
            continue
        eligible.append(entry)
    too_large = sum(e["n_sites"] > max_sites for e in bundle)
    limit = int(cfg.get("limit") or 0)
    sel_seed = cfg.get("selection_seed")
    chosen = eligible if limit <= 0 else stratified_sample(eligible, limit, int(seed if sel_seed is None else sel_seed))
    return sorted(chosen, key=lambda e: e["id"]), skipped, too_large + len(eligible) - len(chosen)


def cache_key(versions: dict, params: LabelParams) -> str:
    """The cache folder of one generator configuration: a changed version or param never reuses old labels."""
    blob = json.dumps({"versions": versions, "params": params.as_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def label_all(entries: list[dict], params: LabelParams, workers: int, progress: bool = True):
    """Yield (id, outcome) in order; outcome is {"record"}, {"unstable", "min_frequency"} or {"error"}."""
    jobs = [(e, params) for e in entries]
    bar = tqdm(
        total=len(jobs), desc="phonon labels (CHGNet+phonopy, SYNTHETIC)", unit="structure", disable=not progress
    )
    pool = None
    if workers == 1 or len(jobs) < 2:
        results = map(_label_job, jobs)
    else:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        pool = mp.get_context(method).Pool(min(workers, len(jobs)))
        results = pool.imap(_label_job, jobs, chunksize=1)
    try:
        for result in results:
            bar.update()
            yield result
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()


def _label_job(job: tuple[dict, LabelParams]) -> tuple[str, dict]:
    entry, params = job
    try:
        label = label_phonons(entry_structure(entry), params)
    except Exception as exc:  # reported with its reason, never dropped silently
        return entry["id"], {"error": f"{type(exc).__name__}: {exc}"}
    if label.unstable(params):
        return entry["id"], {"unstable": True, "min_frequency": label.min_frequency_cm}
    meta = {k: entry[k] for k in ("origin", "reference", "formula", "point_group", "spacegroup") if k in entry}
    meta["bundle_n_sites"] = entry["n_sites"]
    return entry["id"], {"record": to_phonon_record(entry["id"], label, params, meta).to_dict()}


def _z(symbol: str) -> int:
    from pymatgen.core import Element

    try:
        return Element(symbol).Z
    except ValueError as exc:
        raise ConfigError(f"bundled structure has an unknown element {symbol!r}") from exc
