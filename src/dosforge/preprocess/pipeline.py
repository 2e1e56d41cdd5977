"""preprocess: every raw record -> one processed material or one reject with its reason.

Records are processed in parallel (`preprocess.workers` processes, a tqdm bar), in a fixed order
(sorted ids) so the output is the same for the same input. Materials are written to HDF5 shards of
`preprocess.shard_size`; rejects (including the items fetch already skipped) go to `rejects.csv`;
`manifest.json` lists ids, counts, grid, resample mode (`preprocess.resample`, see `spectra`), source,
synthetic flag, graph parameters and shard sha256s.
"""

from __future__ import annotations

import csv
import inspect
import io
import multiprocessing as mp
import os
import sys
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dosforge.config import known_keys
from dosforge.grid import BIN_VALUES, EnergyGrid
from dosforge.io import read_json, write_json, write_text
from dosforge.preprocess import phonon, spectra, symmetry, validate
from dosforge.records import PhononRecord, iter_record_paths, read_record
from dosforge.shards import write_shard
from dosforge.sources import skipped_items

PREPROCESS_KEYS = ("workers", "shard_size", "graphs", "chunksize", "resample")
GraphBuilder = Callable[[object], dict]
_AUTO = "auto"
_CTX: dict = {}


def default_graph_builder(params: dict) -> GraphBuilder:
    """`dosforge.graph.build_graph` with the `graph` params section (owned by the model work)."""
    try:
        from dosforge.graph import build_graph
    except ImportError as exc:
        raise ImportError(
            "preprocess.graphs is true but dosforge.graph.build_graph is not available; "
            "set preprocess.graphs: false to preprocess without crystal graphs"
        ) from exc
    accepted = inspect.signature(build_graph).parameters
    kwargs = {k: v for k, v in (params.get("graph") or {}).items() if k in accepted}
    return partial(build_graph, **kwargs)


def preprocess(
    raw_dir: str | Path,
    out_dir: str | Path,
    params: dict,
    graph_builder: GraphBuilder | None | str = _AUTO,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Process `<raw_dir>/records/*.json.gz` into `out_dir`; return the manifest (with reject counts)."""
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    cfg = known_keys(dict(params.get("preprocess") or {}), PREPROCESS_KEYS, "preprocess")
    grid = EnergyGrid.from_params(params)
    resample = spectra.check_resample(cfg.get("resample", spectra.DEFAULT_RESAMPLE))
    if graph_builder == _AUTO:
        graph_builder = default_graph_builder(params) if cfg.get("graphs", True) else None
    workers = int(workers if workers is not None else cfg.get("workers", 0)) or os.cpu_count() or 1
    shard_size = int(cfg.get("shard_size", 4096))

    paths = iter_record_paths(raw_dir)
    fetch_report = read_json(raw_dir / "fetch_report.json") if (raw_dir / "fetch_report.json").exists() else {}
    is_phonon = fetch_report.get("spectrum") == "phonon"  # the kind fetch wrote (data.spectrum)
    ph_grid = phonon.FrequencyGrid.from_params(params) if is_phonon else None
    ph_opts = phonon.options(params) if is_phonon else None
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("shard-*.h5"), out_dir / "manifest.json", out_dir / "rejects.csv"]:
        stale.unlink(missing_ok=True)

    rejects = [{**s, "stage": "fetch"} for s in skipped_items(fetch_report)]
    shards, ids, buffer = [], [], []
    pg_counts, sources, synthetic, graph_keys, fallbacks = Counter(), set(), set(), None, 0
    init = (grid, graph_builder, resample, (ph_grid, ph_opts) if is_phonon else None)
    scales, mode_fractions = {}, []
    for result in _map(paths, init, workers, int(cfg.get("chunksize", 8)), progress):
        if "reason" in result:
            rejects.append({**result, "stage": "preprocess"})
            continue
        ids.append(result["id"])
        pg_counts[result["point_group"]] += 1
        fallbacks += result.pop("symprec") is None
        if is_phonon:
            scales[result["id"]] = result["scale"]
            mode_fractions.append(result["mode_fraction_in_window"])
        sources.add(result["source"])
        synthetic.add(bool(result["synthetic"]))
        graph_keys = sorted(result["graph"])
        buffer.append(result)
        if len(buffer) == shard_size:
            shards.append(_flush(out_dir, len(shards), buffer))
            buffer = []
    if buffer:
        shards.append(_flush(out_dir, len(shards), buffer))

    counts = dict(sorted(Counter(r["reason"] for r in rejects).items()))
    write_text(out_dir / "rejects.csv", _rejects_csv(rejects))
    manifest = {
        "n_materials": len(ids),
        "n_records": len(paths),
        "n_rejected": len(rejects),
        "rejected_by_reason": counts,
        "ids": ids,
        "shards": shards,
        "grid": grid.as_dict(),
        "resample": resample,
        "bin_value": BIN_VALUES[resample],
        "source": fetch_report.get("source") or (sorted(sources)[0] if len(sources) == 1 else sorted(sources)),
        "synthetic": fetch_report.get("synthetic", any(synthetic)),
        "graph": {"params": params.get("graph") if graph_builder else None, "keys": graph_keys or []},
        "symmetry": {
            "symprec": list(symmetry.SYMPRECS),
            "angle_tolerance": symmetry.ANGLE_TOLERANCE,
            "fallback_point_group": symmetry.FALLBACK,
            "n_fallbacks": fallbacks,
        },
        "point_groups": dict(sorted(pg_counts.items())),
    }
    if is_phonon:  # the electron manifest keeps its exact keys and order
        bin_value = phonon.BIN_VALUES[ph_opts["resample"]]
        manifest.update(grid=ph_grid.as_dict(), resample=ph_opts["resample"], bin_value=bin_value)
        manifest.update(spectrum="phonon", normalize=ph_opts["normalize"], scale=scales)
        manifest["mode_fraction_in_window"] = _summary(mode_fractions)
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def _summary(values: list[float]) -> dict | None:
    """Share of the 3N modes inside the phonon grid's window: min / median / max over materials."""
    if not values:
        return None
    return {"min": float(np.min(values)), "median": float(np.median(values)), "max": float(np.max(values))}


def _map(paths, init, workers: int, chunksize: int, progress: bool):
    bar = partial(tqdm, total=len(paths), desc="preprocess", unit="material", disable=not progress, file=sys.stderr)
    if workers <= 1 or len(paths) < 2 * chunksize:
        _init_worker(*init)
        yield from bar(map(process_path, paths))
        return
    # fork: the workers inherit the grid and the graph builder (which may be a closure) without pickling
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
    with ctx.Pool(workers, initializer=_init_worker, initargs=init) as pool:
        yield from bar(pool.imap(process_path, paths, chunksize=chunksize))


def _init_worker(grid: EnergyGrid, graph_builder: GraphBuilder | None, resample: str, phonon_cfg=None) -> None:
    _CTX.update(grid=grid, graph_builder=graph_builder, resample=resample, phonon=phonon_cfg)


def process_path(path: Path) -> dict:
    """One record file -> a material dict, or {id, source_file, reason, detail} when rejected."""
    record_id, source_file = Path(path).name.removesuffix(".json.gz"), str(path)
    try:
        try:
            record = read_record(path)
        except Exception as exc:
            raise validate.Reject(validate.UNPARSEABLE, f"record file: {type(exc).__name__}: {exc}") from exc
        record_id, source_file = record.id, str(record.meta.get("file", source_file))
        if _CTX.get("phonon") is not None:
            ph_grid, ph_opts = _CTX["phonon"]
            return phonon.process_phonon_record(record, ph_grid, _CTX["graph_builder"], ph_opts)
        if isinstance(record, PhononRecord):
            raise validate.Reject(validate.UNEXPECTED, "a phonon record without a phonon fetch report (data.spectrum)")
        return process_record(record, _CTX["grid"], _CTX["graph_builder"], _CTX["resample"])
    except validate.Reject as rej:
        return {"id": record_id, "source_file": source_file, "reason": rej.reason, "detail": rej.detail}
    except Exception as exc:  # an input no check anticipated: one reject with the error, not a lost run
        detail = f"{type(exc).__name__}: {exc}"
        return {"id": record_id, "source_file": source_file, "reason": validate.UNEXPECTED, "detail": detail}


def process_record(
    record, grid: EnergyGrid, graph_builder: GraphBuilder | None, resample: str = spectra.DEFAULT_RESAMPLE
) -> dict:
    structure = validate.parse_structure(record)
    validate.check_arrays(record, structure, grid)
    elements = sorted(record.elements, key=_z)
    dos, epdos = spectra.grid_spectra(
        record.energies, record.efermi, record.total, record.elements, grid, mode=resample
    )
    if not dos.sum() > 0:
        raise validate.Reject(validate.ZERO_DOS, "the total DOS integrates to 0 over the window")
    epdos_rows = np.stack([epdos[s] for s in elements])
    graph = {}
    if graph_builder is not None:
        try:
            graph = {k: np.asarray(v) for k, v in graph_builder(structure).items()}
        except Exception as exc:
            raise validate.Reject(validate.GRAPH_FAILED, f"{type(exc).__name__}: {exc}") from exc
    pg, symprec = symmetry.point_group(structure)
    return {
        "id": record.id,
        "formula": structure.composition.reduced_formula,
        "point_group": pg,
        "symprec": symprec,
        "source": record.source,
        "synthetic": bool(record.synthetic),
        "gap_origin": record.gap_origin,
        "dos": dos.astype(np.float32),  # the shards' dtype; halves what workers send back
        "epdos": epdos_rows.astype(np.float32),
        "epdos_z": np.array([_z(s) for s in elements], dtype=np.int64),
        "epdos_residual": spectra.element_residual(dos, epdos_rows.sum(0)),
        "efermi": float(record.efermi),
        "gap": float(record.band_gap),
        "is_metal": bool(record.is_metal) if record.is_metal is not None else bool(record.band_gap <= 0),
        "atomic_numbers": np.array(structure.atomic_numbers, dtype=np.int64),
        "cart_coords": structure.cart_coords,
        "lattice": structure.lattice.matrix,
        "graph": graph,
    }


def _z(symbol: str) -> int:
    from pymatgen.core.periodic_table import Element

    return Element(symbol).Z


def _flush(out_dir: Path, index: int, buffer: list[dict]) -> dict:
    name = f"shard-{index:05d}.h5"
    return {"file": name, "n": len(buffer), "sha256": write_shard(out_dir / name, buffer)}


def _rejects_csv(rejects: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["id", "source_file", "stage", "reason", "detail"], lineterminator="\n")
    writer.writeheader()
    for r in rejects:
        writer.writerow({k: r.get(k, "") for k in writer.fieldnames})
    return buf.getvalue()
