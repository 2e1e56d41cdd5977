"""The `embedded` source: real MP crystal structures bundled with the project, labelled by the
built-in tight-binding model (dosforge.tb). The labels are SYNTHETIC; see docs/data_card.md.

`fetch_embedded(params, raw_dir)` selects structures from the bundle (site limit, exclusions, a
seeded point-group-stratified sample of the requested size that always keeps the metal
prototypes), labels them in parallel and writes one RawRecord per material. Every structure that
is not written is counted with its reason in the returned report.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from dosforge import NOBLE_GASES
from dosforge.config import ConfigError, known_keys
from dosforge.io import read_json
from dosforge.records import write_record
from dosforge.tb.label import GENERATOR, GENERATOR_VERSION, TBParams, label_structure, to_raw_record
from dosforge.tb.orbitals import UnsupportedElementError, species

BUNDLE = Path(__file__).resolve().parents[1] / "data" / "embedded" / "structures.json.gz"
POINT_GROUPS = (
    "1", "-1", "2", "m", "2/m", "222", "mm2", "mmm", "4", "-4", "4/m", "422", "4mm", "-42m", "4/mmm", "3", "-3",
    "32", "3m", "-3m", "6", "-6", "6/m", "622", "6mm", "-6m2", "6/mmm", "23", "m-3", "432", "-43m", "m-3m",
)  # fmt: skip
PROTOTYPE_SHARE = 0.3
KEYS = (
    "limit", "selection_seed", "include_prototypes", "exclude_odd_electron", "exclude_open_shell_tm",
    "kppra", "taper", "sigma", "edge_width", "dos_step", "window", "symprec", "workers",
)  # fmt: skip


@cache
def load_bundle(path: Path = BUNDLE) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python scripts/build_embedded_structures.py`")
    return read_json(path)["entries"]


def entry_structure(entry: dict) -> Structure:
    return Structure(Lattice(entry["lattice"]), entry["species"], entry["frac_coords"])


def tb_params(cfg: dict) -> TBParams:
    taper = cfg.get("taper", [1.15, 1.40])
    if len(taper) != 2 or not 0 < taper[0] < taper[1]:
        raise ConfigError(f"embedded.taper={taper!r} must be [inner, outer] with 0 < inner < outer")
    keys = ("kppra", "sigma", "edge_width", "dos_step", "window", "symprec")
    return TBParams.from_dict(
        {k: cfg[k] for k in keys if k in cfg} | {"taper_inner": taper[0], "taper_outer": taper[1]}
    )


def valence_count(entry: dict) -> int:
    return sum(species(s).valence for s in entry["species"])


def _skip_reason(entry: dict, max_sites: int, cfg: dict) -> str | None:
    """Why a bundled structure cannot enter the dataset, or None."""
    if entry["n_sites"] > max_sites:
        return f"too many sites (> data.max_sites={max_sites})"
    if set(entry["species"]) & NOBLE_GASES:
        return "noble gas"
    try:
        n_el = valence_count(entry)
    except UnsupportedElementError as exc:
        return f"unsupported element: {exc}"
    insulating_reference = entry.get("dft_class") == "insulator"
    # A spin-free model cannot make an odd-electron cell insulating, nor describe high-spin d ions:
    # where the reference calculation says insulator, such a label would be wrong by construction.
    if cfg.get("exclude_odd_electron", True) and insulating_reference and n_el % 2:
        return "odd electron count in a DFT insulator (excluded: embedded.exclude_odd_electron)"
    if cfg.get("exclude_open_shell_tm", False) and insulating_reference and entry.get("open_shell_tm"):
        return "open-shell transition metal in a DFT insulator (excluded: embedded.exclude_open_shell_tm)"
    return None


def stratified_sample(entries: list[dict], n: int, seed: int) -> list[dict]:
    """n entries, every point group present at least once (if n allows), the rest in proportion to group sizes."""
    if n >= len(entries):
        return list(entries)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[dict]] = {}
    for e in sorted(entries, key=lambda e: e["id"]):
        groups.setdefault(e["point_group"], []).append(e)
    names = sorted(groups, key=POINT_GROUPS.index)
    for g in names:
        groups[g] = [groups[g][i] for i in rng.permutation(len(groups[g]))]
    quota = {g: min(1, n) if len(names) <= n else 0 for g in names}
    rest = n - sum(quota.values())
    share = {g: rest * (len(groups[g]) - quota[g]) / (len(entries) - sum(quota.values())) for g in names}
    for g in names:
        quota[g] += int(share[g])
    leftover = n - sum(quota.values())
    for g in sorted(names, key=lambda g: (-(share[g] - int(share[g])), POINT_GROUPS.index(g)))[:leftover]:
        quota[g] += 1
    return [e for g in names for e in groups[g][: quota[g]]]


def select(bundle: list[dict], params: dict) -> tuple[list[dict], Counter, list[dict], list[dict]]:
    """(selected entries, skip-reason counts, skipped entries with reasons, all eligible entries)."""
    cfg = params.get("embedded", {}) or {}
    max_sites = int(params.get("data", {}).get("max_sites", 20))
    eligible, reasons, skipped = [], Counter(), []
    for e in bundle:
        if e["origin"] == "prototype" and not cfg.get("include_prototypes", True):
            reasons["prototypes disabled (embedded.include_prototypes)"] += 1
            continue
        why = _skip_reason(e, max_sites, cfg)
        if why:
            reasons[why] += 1
            skipped.append({"id": e["id"], "reason": why})
        else:
            eligible.append(e)
    limit = cfg.get("limit")
    if limit is None or limit <= 0 or limit >= len(eligible):
        return sorted(eligible, key=lambda e: e["id"]), reasons, skipped, eligible
    seed = int(cfg.get("selection_seed") if cfg.get("selection_seed") is not None else params.get("seed", 0))
    protos = [e for e in eligible if e["origin"] == "prototype"]
    others = [e for e in eligible if e["origin"] != "prototype"]
    # prototypes (the metals) take at most PROTOTYPE_SHARE of a limited selection, so that a small
    # dataset still holds mostly real MP structures; the default limit keeps all 301 of them
    n_protos = min(len(protos), math.ceil(PROTOTYPE_SHARE * limit))
    chosen = stratified_sample(protos, n_protos, seed) + stratified_sample(others, limit - n_protos, seed)
    reasons["not selected (embedded.limit)"] += len(eligible) - len(chosen)
    return sorted(chosen, key=lambda e: e["id"]), reasons, skipped, eligible


def _label_job(args):
    entry, params_dict = args
    params = TBParams.from_dict(params_dict)
    try:
        structure = entry_structure(entry)
        with threadpool_limits(1):  # one BLAS thread: the same numbers whatever the worker count
            lab = label_structure(structure, params)
        meta = {
            "origin": entry["origin"],
            "reference": entry["reference"],
            "point_group": entry["point_group"],
            "spacegroup": entry["spacegroup"],
            "flags": {"odd_electron": bool(lab.n_electrons % 2), "open_shell_tm": bool(entry.get("open_shell_tm"))},
            "reference_class": entry.get("dft_class"),
            "oxidation_states": entry.get("oxidation_states"),
        }
        if "matbench_index" in entry:
            meta["matbench_index"] = entry["matbench_index"]
        return entry["id"], to_raw_record(entry["id"], structure, lab, params, meta), None
    except Exception as exc:  # reported with its reason, never dropped silently
        return entry["id"], None, f"{type(exc).__name__}: {exc}"


def label_entries(entries: list[dict], params: TBParams, workers: int = 1, progress: bool = True):
    """Yield (id, RawRecord | None, error | None) for bundle entries, in order, over `workers` processes."""
    jobs = [(e, params.as_dict()) for e in entries]
    bar = tqdm(total=len(jobs), desc="tight-binding labels", unit="structure", disable=not progress)
    pool = None
    if workers == 1 or len(jobs) < 2:
        results = map(_label_job, jobs)
    else:
        # fork where the OS has it: spawn would re-run an unguarded caller script in every worker
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        pool = mp.get_context(method).Pool(min(workers, len(jobs)))
        results = pool.imap(_label_job, jobs, chunksize=4)
    try:
        for result in results:
            bar.update()
            yield result
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()


def fetch_embedded(params: dict, raw_dir: Path) -> dict:
    """Label the selected bundled structures and write their RawRecords; return the fetch report."""
    cfg = known_keys(params.get("embedded", {}) or {}, KEYS, "embedded")
    tbp = tb_params(cfg)
    bundle = load_bundle()
    chosen, reasons, skipped, eligible = select(bundle, params)
    workers = int(cfg.get("workers") or 0) or os.cpu_count() or 1
    counts, failed = Counter(), []
    point_groups, metals_by_origin = Counter(), Counter()
    for (rid, rec, err), entry in zip(label_entries(chosen, tbp, workers), chosen, strict=True):
        if rec is None:
            failed.append({"id": rid, "reason": err})
            reasons[f"labelling failed: {err.split(':')[0]}"] += 1
            continue
        write_record(raw_dir, rec)
        counts["labelled"] += 1
        counts["metal"] += rec.is_metal
        counts["odd_electron"] += rec.meta["flags"]["odd_electron"]
        counts["open_shell_tm"] += rec.meta["flags"]["open_shell_tm"]
        point_groups[entry["point_group"]] += 1
        metals_by_origin[entry["origin"], rec.is_metal] += 1
    reachable = sorted({e["point_group"] for e in eligible}, key=POINT_GROUPS.index)
    n = counts["labelled"]
    return {
        "source": "embedded",
        "synthetic": True,
        "generator": {"name": GENERATOR, "version": GENERATOR_VERSION, "params": tbp.as_dict()},
        "bundle": {"path": str(BUNDLE.name), "structures": len(bundle)},
        "selected": len(chosen),
        "labelled": n,
        "skipped": dict(sorted(reasons.items())),
        "skipped_structures": skipped,
        "failed": failed,
        "metal_fraction": counts["metal"] / n if n else 0.0,
        "metals_by_origin": {
            f"{o} {'metal' if m else 'insulator'}": c for (o, m), c in sorted(metals_by_origin.items())
        },
        "flags": {"odd_electron": counts["odd_electron"], "open_shell_tm": counts["open_shell_tm"]},
        "point_groups": {g: point_groups[g] for g in POINT_GROUPS if point_groups[g]},
        "point_group_coverage": f"{len(point_groups)}/32",
        "point_groups_missing": [g for g in POINT_GROUPS if not point_groups[g]],
        "point_groups_reachable": reachable,  # present among the eligible structures (site limit, exclusions)
    }
