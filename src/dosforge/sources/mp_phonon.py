"""The `mp` source for `data.spectrum: phonon`: MP's phonon DOS (DFPT by default) through mp-api.

Selection: `materials.summary.search(has_props=["phonon"], ...)` with the filters of the `mp` section
(the electron source's query, cache and limit). Per material
`materials.phonon.get_dos_from_material_id(id, mp.phonon_method)`: a pymatgen `PhononDos`/
`CompletePhononDos` (as mp-api's `PhononDOS` document), THz, converted to cm^-1 in the record. A DOS
without its own structure takes the summary's structure; the 3N mode-count check (dosforge.phonon.validate)
then catches a DOS of another cell. The API key, the retry with backoff and the atomic per-material
cache are those of `dosforge.sources.mp`; a cached resume never goes online.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from dosforge.config import choice, known_keys
from dosforge.phonon.convert import phonon_dos_from_dict, record_from_phonon_dos
from dosforge.phonon.validate import check_phonon_record
from dosforge.preprocess.validate import Reject
from dosforge.records import safe_name, write_record
from dosforge.sources import mp as mp_source
from dosforge.sources.mp import (
    MP_KEYS,
    Retrier,
    api_key_from_env,
    build_query,
    cached_entry,
    lazy_client,
    select,
)

PHONON_METHODS = ("dfpt", "phonopy", "pheasy")


def fetch_mp_phonon(params: dict, raw_dir: str | Path, client_factory: Callable[[str], object] | None = None) -> dict:
    from dosforge.sources import skip

    cfg = known_keys(dict(params.get("mp") or {}), MP_KEYS, "mp")
    method = choice(cfg.get("phonon_method") or "dfpt", PHONON_METHODS, "mp.phonon_method")
    api_key = api_key_from_env()
    get_client = lazy_client(api_key, client_factory or mp_source.make_client)  # looked up now: tests replace it
    retry = Retrier(int(cfg.get("max_retries", 6)), float(cfg.get("backoff_s", 2.0)))
    cache = Path(cfg.get("cache_dir") or "data/cache/mp")
    query = build_query(params, has_prop="phonon")
    docs = select(query, int(cfg.get("limit") or 0), cache, get_client, retry)

    skipped, written, downloaded = [], 0, 0
    selected = {d["material_id"] for d in docs}
    for mid in query.get("material_ids", []):
        if mid not in selected:
            skipped.append(skip(mid, "not selected", "no phonon data in MP, a GNoME entry, or outside the filters"))
    for doc in tqdm(docs, desc="fetch mp phonon", unit="material"):
        mid = doc["material_id"]
        entry_path = cache / f"phonon-{method}" / f"{safe_name(mid)}.json.gz"
        entry, failure, fresh = cached_entry(
            entry_path,
            lambda mid=mid: _plain_dos(get_client().materials.phonon.get_dos_from_material_id(mid, method)),
            doc, retry, api_key, "no phonon DOS",
        )  # fmt: skip
        if failure:
            skipped.append(skip(mid, *failure))
            continue
        downloaded += fresh
        summary = entry["summary"]
        try:
            rec = record_from_phonon_dos(
                phonon_dos_from_dict(entry["dos"]),
                mid,
                "mp",
                structure=summary.get("structure"),
                meta={"phonon_method": method, **{k: summary.get(k) for k in ("formula_pretty", "nsites")}},
            )
            check_phonon_record(rec)
        except Reject as exc:
            skipped.append(skip(mid, exc.reason, exc.detail))
            continue
        except Exception as exc:
            skipped.append(skip(mid, "unparseable", f"{type(exc).__name__}: {exc}"))
            continue
        write_record(raw_dir, rec)
        written += 1
    return {
        "spectrum": "phonon",
        "phonon_method": method,
        "query": {k: v for k, v in query.items() if k != "fields"},
        "n_selected": len(docs),
        "n_downloaded": downloaded,
        "n_from_cache": written - downloaded,
        "n_written": written,
        "skipped": skipped,
    }


def _plain_dos(dos) -> dict:
    """mp-api's `PhononDOS` document, a pymatgen DOS or a dict, as a plain pymatgen-style dict."""
    if hasattr(dos, "to_pmg"):
        dos = dos.to_pmg
    if hasattr(dos, "as_dict"):
        return dos.as_dict()
    return dict(dos)
