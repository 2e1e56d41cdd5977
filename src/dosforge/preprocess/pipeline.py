"""preprocess: every raw record -> one processed material or one reject with its reason.

Records are taken in a fixed order (sorted ids) and cut by input position into chunks of
`preprocess.chunk_records`; each chunk is processed independently into a work shard + sidecar under
the work folder (`chunks`), on `preprocess.workers` local processes or a SLURM array (`executors`,
`DOSFORGE_EXECUTOR`), and a chunk that is already done is not recomputed, so a killed run resumes.
The reduce step (`reduce`) then writes the outputs: materials in HDF5 shards of
`preprocess.shard_size`; rejects (including the items fetch already skipped) in `rejects.csv`;
`manifest.json` with ids, counts, grid, resample mode (`preprocess.resample`, see `spectra`), source,
synthetic flag, graph parameters and shard sha256s. The outputs do not depend on the worker count,
the executor or the chunk size.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Generator
from functools import cache, partial
from pathlib import Path

import numpy as np

from dosforge.config import known_keys
from dosforge.grid import BIN_VALUES, EnergyGrid
from dosforge.io import read_json, write_json
from dosforge.preprocess import phonon, spectra, stages, symmetry, validate
from dosforge.preprocess.chunks import ChunkJob, finished_sidecar
from dosforge.preprocess.executors import executor_name, run_jobs
from dosforge.preprocess.reduce import summarise, write_final_shards, write_rejects_csv
from dosforge.preprocess.workdir import WorkFolder, drop_stale_chunks, work_fingerprint
from dosforge.records import PhononRecord, iter_record_paths, read_record, record_id_from_path
from dosforge.sources import skipped_items

PREPROCESS_KEYS = ("workers", "shard_size", "graphs", "resample", "chunk_records", "work_dir")
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
    run_report: dict | None = None,
) -> dict:
    """Process `<raw_dir>/records/` into `out_dir`; return the manifest (with reject counts).

    `run_report`, if given, is filled with what this run did: chunks, reused and computed chunk
    indices, the work folder and the executor.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    cfg = known_keys(dict(params.get("preprocess") or {}), PREPROCESS_KEYS, "preprocess")
    grid = EnergyGrid.from_params(params)
    resample = spectra.check_resample(cfg.get("resample", spectra.DEFAULT_RESAMPLE))
    if graph_builder == _AUTO:
        graph_builder = default_graph_builder(params) if cfg.get("graphs", True) else None
    workers = int(workers if workers is not None else cfg.get("workers", 0)) or os.cpu_count() or 1
    shard_size = int(cfg.get("shard_size", 4096))
    chunk_records = int(cfg.get("chunk_records", 256))
    if shard_size < 1 or chunk_records < 1:
        raise ValueError(f"preprocess.shard_size ({shard_size}) and chunk_records ({chunk_records}) must be >= 1")
    executor = executor_name()

    paths = iter_record_paths(raw_dir)
    fetch_report = read_json(raw_dir / "fetch_report.json") if (raw_dir / "fetch_report.json").exists() else {}
    is_phonon = fetch_report.get("spectrum") == "phonon"  # the kind fetch wrote (data.spectrum)
    ph_grid = phonon.FrequencyGrid.from_params(params) if is_phonon else None
    ph_opts = phonon.options(params) if is_phonon else None
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("shard-*.h5"), out_dir / "manifest.json", out_dir / "rejects.csv"]:
        stale.unlink(missing_ok=True)

    phonon_cfg = (ph_grid, ph_opts) if is_phonon else None
    fingerprint = work_fingerprint(params, grid, resample, graph_builder, chunk_records, phonon=phonon_cfg)
    with WorkFolder(cfg.get("work_dir"), fingerprint) as work_dir:
        cut = [tuple(map(str, paths[a : a + chunk_records])) for a in range(0, len(paths), chunk_records)]
        jobs = [
            ChunkJob(k, chunk, str(work_dir), grid, graph_builder, resample, phonon_cfg) for k, chunk in enumerate(cut)
        ]
        sidecars = {j.index: s for j in jobs if (s := finished_sidecar(j)) is not None}
        todo = [j for j in jobs if j.index not in sidecars]
        sidecars.update(run_jobs(todo, workers, work_dir / "submitit", progress))
        ordered = [sidecars[j.index] for j in jobs]
        shards = write_final_shards(out_dir, work_dir, ordered, shard_size)
        drop_stale_chunks(work_dir, len(jobs))
        if run_report is not None:
            run_report.update(
                chunks=len(jobs),
                reused=sorted(set(range(len(jobs))) - {j.index for j in todo}),
                computed=[j.index for j in todo],
                work_dir=str(work_dir),
                executor=executor,
            )

    found = summarise(ordered)
    rejects = [{**s, "stage": "fetch"} for s in skipped_items(fetch_report)] + found["rejects"]
    counts: dict[str, int] = {}
    for r in rejects:
        counts[r["reason"]] = counts.get(r["reason"], 0) + 1
    write_rejects_csv(out_dir / "rejects.csv", rejects)
    sources = found["sources"]
    manifest = {
        "n_materials": len(found["ids"]),
        "n_records": len(paths),
        "n_rejected": len(rejects),
        "rejected_by_reason": dict(sorted(counts.items())),
        "ids": found["ids"],
        "shards": shards,
        "grid": grid.as_dict(),
        "resample": resample,
        "bin_value": BIN_VALUES[resample],
        "source": fetch_report.get("source") or (sorted(sources)[0] if len(sources) == 1 else sorted(sources)),
        "synthetic": fetch_report.get("synthetic", any(found["synthetic"])),
        "graph": {"params": params.get("graph") if graph_builder else None, "keys": found["graph_keys"] or []},
        "symmetry": {
            "symprec": list(symmetry.SYMPRECS),
            "angle_tolerance": symmetry.ANGLE_TOLERANCE,
            "fallback_point_group": symmetry.FALLBACK,
            "n_fallbacks": found["n_fallbacks"],
        },
        "point_groups": found["point_groups"],
    }
    if is_phonon:  # the electron manifest keeps its exact keys and order
        bin_value = phonon.BIN_VALUES[ph_opts["resample"]]
        manifest.update(grid=ph_grid.as_dict(), resample=ph_opts["resample"], bin_value=bin_value)
        manifest.update(spectrum="phonon", normalize=ph_opts["normalize"], scale=found["scales"])
        manifest["mode_fraction_in_window"] = _summary(found["mode_fractions"])
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def _summary(values: list[float]) -> dict | None:
    """Share of the 3N modes inside the phonon grid's window: min / median / max over materials."""
    if not values:
        return None
    return {"min": float(np.min(values)), "median": float(np.median(values)), "max": float(np.max(values))}


def init_worker(grid: EnergyGrid, graph_builder: GraphBuilder | None, resample: str, phonon_cfg=None) -> None:
    _CTX.update(grid=grid, graph_builder=graph_builder, resample=resample, phonon=phonon_cfg)


def process_path(path: Path) -> dict:
    """One record file -> a material dict, or {id, source_file, reason, detail} when rejected."""
    return process_paths([path])[0]


def process_paths(paths: list[Path]) -> list[dict]:
    """`process_path` of each file, run stage by stage across them (`stages`): the same results, less CPU."""
    return stages.run([_path_stages(Path(p)) for p in paths])


def _path_stages(path: Path) -> Generator[None, None, dict]:
    """`process_path` as a generator that yields between stages (see `stages`) and returns its result."""
    record_id, source_file = record_id_from_path(path), str(path)
    try:
        try:
            record = read_record(path)
        except Exception as exc:
            raise validate.Reject(validate.UNPARSEABLE, f"record file: {type(exc).__name__}: {exc}") from exc
        record_id, source_file = record.id, str(record.meta.get("file", source_file))
        if _CTX.get("phonon") is not None:  # in one stage: 51-point grids, little to gain
            ph_grid, ph_opts = _CTX["phonon"]
            return phonon.process_phonon_record(record, ph_grid, _CTX["graph_builder"], ph_opts)
        if isinstance(record, PhononRecord):
            raise validate.Reject(validate.UNEXPECTED, "a phonon record without a phonon fetch report (data.spectrum)")
        yield
        return (yield from record_stages(record, _CTX["grid"], _CTX["graph_builder"], _CTX["resample"]))
    except validate.Reject as rej:
        return {"id": record_id, "source_file": source_file, "reason": rej.reason, "detail": rej.detail}
    except Exception as exc:  # an input no check anticipated: one reject with the error, not a lost run
        detail = f"{type(exc).__name__}: {exc}"
        return {"id": record_id, "source_file": source_file, "reason": validate.UNEXPECTED, "detail": detail}


def process_record(
    record, grid: EnergyGrid, graph_builder: GraphBuilder | None, resample: str = spectra.DEFAULT_RESAMPLE
) -> dict:
    """One electron record -> its material dict; a `validate.Reject` says why it cannot be used."""
    return stages.run([record_stages(record, grid, graph_builder, resample)])[0]


def record_stages(
    record, grid: EnergyGrid, graph_builder: GraphBuilder | None, resample: str = spectra.DEFAULT_RESAMPLE
) -> Generator[None, None, dict]:
    """`process_record` as a generator that yields between its stages (see `stages`) and returns the dict."""
    structure = validate.parse_structure(record)
    validate.check_arrays(record, structure, grid)
    yield
    elements = sorted(record.elements, key=_z)
    dos, epdos = spectra.grid_spectra(
        record.energies, record.efermi, record.total, record.elements, grid, mode=resample
    )
    if not dos.sum() > 0:
        raise validate.Reject(validate.ZERO_DOS, "the total DOS integrates to 0 over the window")
    epdos_rows = np.stack([epdos[s] for s in elements])
    yield
    graph = {}
    if graph_builder is not None:
        try:
            graph = {k: np.asarray(v) for k, v in graph_builder(structure).items()}
        except Exception as exc:
            raise validate.Reject(validate.GRAPH_FAILED, f"{type(exc).__name__}: {exc}") from exc
    yield
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


@cache  # twice per element of every material; ~100 distinct symbols
def _z(symbol: str) -> int:
    from pymatgen.core.periodic_table import Element

    return Element(symbol).Z
