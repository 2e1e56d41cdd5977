"""The unlabelled pretraining corpus: structures from the bundle, a `files` folder and (with a key) MP.

Never the labelled validation/test structures (`exclude: heldout`) or no labelled structure at all
(`exclude: labelled`): bundled entries by id, other sources by structure match (same reduced formula and
pymatgen's StructureMatcher) against the excluded bundled ones. Structures from `files`/`mp` that match
one already in the corpus are dropped as duplicates. Every rejected structure is counted with its reason.

Each item holds the Niggli-reduced cell (encoder input and VAE targets use the same cell, see `targets`),
its crystal graph (`dosforge.graph.build_graph` with the `graph:` params) and a fixed train/val assignment.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure
from tqdm.auto import tqdm

from dosforge import NOBLE_GASES
from dosforge.config import ConfigError
from dosforge.graph import GraphError, build_graph
from dosforge.io import read_json
from dosforge.model.features import MAX_Z

FILE_PATTERNS = ("*.cif", "POSCAR*", "CONTCAR*", "*.vasp")


def targets(structure: Structure) -> tuple[Structure, np.ndarray, np.ndarray]:
    """(Niggli-reduced primitive cell, fractional coordinates wrapped to [0, 1), lattice in the standard orientation).

    The canonical frame: the Niggli-reduced primitive cell removes the choice of cell and supercell (as the
    encoder's graph does), and rebuilding its matrix
    from (a, b, c, alpha, beta, gamma) (a along x, b in the xy plane) removes rotation, so the lattice target
    is a function of what the invariant encoder sees. The origin (a translation) stays free: no per-atom
    head of a translation-invariant encoder can recover it, which leaves a floor on the coordinate L1 that
    the history reports next to a mean-predictor baseline (docs/pretraining.md)."""
    reduced = structure.get_primitive_structure().get_reduced_structure("niggli")
    lattice = Lattice.from_parameters(*reduced.lattice.parameters)
    frac = np.mod(reduced.frac_coords, 1.0)
    return reduced, frac.astype(np.float32), lattice.matrix.astype(np.float32)


def _reason(structure: Structure, max_sites: int) -> str | None:
    if len(structure) > max_sites:
        return f"too many sites (> pretrain.data.max_sites={max_sites})"
    if not structure.is_ordered:
        return "partial occupancy"
    symbols = {el.symbol for el in structure.composition.elements}
    if symbols & NOBLE_GASES:
        return "noble gas"
    if max(el.Z for el in structure.composition.elements) > MAX_Z:
        return f"element beyond Z={MAX_Z}"
    return None


def make_item(sid: str, source: str, structure: Structure, graph_params: dict) -> dict:
    reduced, frac, lattice = targets(structure)
    return {
        "id": sid,
        "source": source,
        "formula": reduced.composition.reduced_formula,
        "z": np.asarray(reduced.atomic_numbers, dtype=np.int64),
        "cart_coords": reduced.cart_coords.astype(np.float32),
        "lattice": reduced.lattice.matrix.astype(np.float32),
        "graph": build_graph(reduced, **graph_params),
        "frac_target": frac,
        "lattice_target": lattice,
    }


def bundle_structures() -> list[tuple[str, Structure]]:
    from dosforge.sources.embedded import entry_structure, load_bundle

    return [(e["id"], entry_structure(e)) for e in load_bundle()]


def file_structures(folder: str | Path) -> tuple[list[tuple[str, Structure]], list[dict]]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"pretrain.data.path={str(folder)!r} is not a folder of CIF/POSCAR files")
    paths = sorted({p for pattern in FILE_PATTERNS for p in folder.rglob(pattern) if p.is_file()})
    found, rejects = [], []
    for p in paths:
        sid = f"file:{p.relative_to(folder).as_posix()}"
        try:
            found.append((sid, Structure.from_file(p)))
        except Exception as exc:  # any parser error: reported with the file, never a silent skip
            rejects.append({"id": sid, "reason": "unreadable file", "detail": f"{type(exc).__name__}: {exc}"[:200]})
    return found, rejects


def mp_structures(params: dict, cfg: dict, client_factory=None) -> list[tuple[str, Structure]]:
    """Structures of the `mp` source's summary search (its filters, cache and retries; DOS never downloaded)."""
    from dosforge.sources import mp

    api_key = os.environ.get("MP_API_KEY", "").strip()
    if not api_key:
        raise ConfigError("pretrain.data.sources includes mp: export MP_API_KEY (read from the environment only)")
    mp_cfg = dict(params.get("mp") or {})
    query = mp.build_query({"mp": mp_cfg, "data": {"max_sites": cfg["max_sites"]}})
    factory = client_factory or mp.make_client
    client = None

    def get_client():
        nonlocal client
        client = client or factory(api_key)
        return client

    retry = mp.Retrier(int(mp_cfg.get("max_retries", 6)), float(mp_cfg.get("backoff_s", 2.0)))
    cache = Path(mp_cfg.get("cache_dir") or "data/cache/mp")
    docs = mp.select(query, int(cfg["mp_limit"]), cache, get_client, retry)
    return [(f"mp:{d['material_id']}", Structure.from_dict(d["structure"])) for d in docs]


def excluded_ids(split: dict, exclude: str) -> set[str]:
    keys = ("val", "test") if exclude == "heldout" else ("train", "val", "test")
    return {i for k in keys for i in split.get(k, [])}


class _Matcher:
    """Structure match by (reduced formula, StructureMatcher), for exclusion and de-duplication."""

    def __init__(self):
        self.by_formula: dict[str, list[Structure]] = {}
        self.matcher = StructureMatcher()

    def add(self, s: Structure) -> None:
        self.by_formula.setdefault(s.composition.reduced_formula, []).append(s)

    def matches(self, s: Structure) -> bool:
        return any(self.matcher.fit(s, o) for o in self.by_formula.get(s.composition.reduced_formula, []))


def build_corpus(params: dict, cfg: dict, split: dict, seed: int, progress: bool = True, client_factory=None) -> dict:
    """{"train": [items], "val": [items], "report": counts} for the resolved `pretrain.data` config `cfg`."""
    graph_params = {k: params["graph"][k] for k in ("cutoff", "max_neighbors")} if params.get("graph") else {}
    excluded = excluded_ids(split, cfg["exclude"])
    rejects: list[dict] = []
    candidates: list[tuple[str, str, Structure]] = []
    held_out, in_corpus = _Matcher(), _Matcher()
    n_excluded = Counter()
    for sid, s in bundle_structures():
        if sid in excluded:
            n_excluded["bundle"] += 1
            held_out.add(s)
        else:
            candidates.append((sid, "bundle", s))
    if "bundle" not in cfg["sources"]:
        candidates = []
    if "files" in cfg["sources"]:
        found, bad = file_structures(cfg["path"])
        rejects += bad
        candidates += [(sid, "files", s) for sid, s in found]
    if "mp" in cfg["sources"]:
        candidates += [(sid, "mp", s) for sid, s in mp_structures(params, cfg, client_factory)]

    limit = int(cfg["limit"] or 0)
    if limit:  # a seeded random order, taken until `limit` structures pass (the rest are never built)
        candidates = [candidates[i] for i in np.random.default_rng([seed, 1]).permutation(len(candidates))]
    items = []
    for k, (sid, source, s) in enumerate(
        tqdm(candidates, desc="pretrain corpus", unit="structure", disable=not progress)
    ):
        if limit and len(items) == limit:
            rejects += [{"id": c[0], "reason": "not sampled (pretrain.data.limit)"} for c in candidates[k:]]
            break
        why = _reason(s, int(cfg["max_sites"]))
        if why is None and source != "bundle":
            if held_out.matches(s):
                why = f"matches an excluded labelled structure (pretrain.data.exclude={cfg['exclude']})"
            elif in_corpus.matches(s):
                why = "duplicate of a structure already in the corpus"
        if why is None:
            try:
                items.append(make_item(sid, source, s, graph_params))
            except (GraphError, ValueError) as exc:
                why = f"graph: {exc}"
        if why is not None:
            rejects.append({"id": sid, "reason": why})
        elif source != "bundle" or len(cfg["sources"]) > 1:
            in_corpus.add(s)  # bundled ones only matter when another source is de-duplicated against them
    items.sort(key=lambda it: it["id"])
    if len(items) < 2:
        raise ConfigError(f"the pretraining corpus has {len(items)} structure(s); add sources or raise max_sites")
    order = np.random.default_rng([seed, 2]).permutation(len(items))
    n_val = max(1, round(float(cfg["val_fraction"]) * len(items)))
    val = sorted(order[:n_val].tolist())
    val_set = set(val)
    ids = [it["id"] for it in items]
    report = {
        "n_structures": len(items),
        "n_train": len(items) - n_val,
        "n_val": n_val,
        "by_source": dict(Counter(it["source"] for it in items)),
        "excluded_labelled": {"rule": cfg["exclude"], "n_ids": len(excluded), "bundle": n_excluded["bundle"]},
        "rejected": dict(Counter(r["reason"] for r in rejects)),
        "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
    }
    return {
        "train": [it for i, it in enumerate(items) if i not in val_set],
        "val": [items[i] for i in val],
        "report": report,
        "rejects": rejects,
    }


def read_split(split_dir: str | Path) -> dict:
    path = Path(split_dir) / "split.json"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: run `dvc repro split` first (its val/test ids are never pretrained on)")
    return read_json(path)
