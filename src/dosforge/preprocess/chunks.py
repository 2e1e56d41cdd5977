"""One unit of preprocess work: a chunk of raw records cut by input position -> a work shard + a sidecar.

Chunk k holds records `[k * C, (k + 1) * C)` of the sorted record list (C = `preprocess.chunk_records`),
so its output depends on its own records only, not on how many workers run or what other chunks
reject. `run_chunk` writes, atomically and in this order, `chunk-KKKKK.h5` (the accepted materials,
`dosforge.shards.write_shard`'s format) and `chunk-KKKKK.json`, the sidecar: input fingerprint, ids,
rejects with reasons, counts, point groups, graph keys and the shard's sha256. A chunk whose sidecar
matches its inputs and whose shard matches the recorded sha256 is done; anything else (missing,
half-written by a killed run, corrupt, made from other inputs) is recomputed. The function is
self-contained and picklable, so the local pool and a SLURM array (`executors`) run the same code.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import h5py

from dosforge.grid import EnergyGrid
from dosforge.io import read_json, write_json
from dosforge.shards import sha256, write_shard

SIDECAR_VERSION = 1


@dataclass(frozen=True)
class ChunkJob:
    index: int
    paths: tuple[str, ...]
    work_dir: str
    grid: EnergyGrid
    graph_builder: object  # a callable structure -> {name: array}, or None (no graphs)
    resample: str
    phonon: tuple | None = None  # (FrequencyGrid, options) for phonon records (data.spectrum=phonon), else None

    @property
    def shard_path(self) -> Path:
        return Path(self.work_dir) / f"chunk-{self.index:05d}.h5"

    @property
    def sidecar_path(self) -> Path:
        return Path(self.work_dir) / f"chunk-{self.index:05d}.json"


def input_fingerprint(paths) -> str:
    """sha256 over each input's name, size and mtime (the cheap identity DVC's own state cache uses):
    rewritten records (a new fetch) make the chunk stale, an untouched resume keeps it."""
    h = hashlib.sha256()
    for p in paths:
        st = os.stat(p)
        h.update(f"{Path(p).name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def finished_sidecar(job: ChunkJob) -> dict | None:
    """The chunk's sidecar if the chunk is complete and intact for these inputs, else None."""
    try:
        sidecar = read_json(job.sidecar_path)
        if sidecar.get("version") != SIDECAR_VERSION or sidecar.get("inputs") != input_fingerprint(job.paths):
            return None
        if sidecar["shard"] is not None and sha256(job.shard_path) != sidecar["sha256"]:
            return None
    except (OSError, ValueError, KeyError):
        return None
    return sidecar


def run_chunk(job: ChunkJob) -> dict:
    """Process the chunk's records (unless already done) and return its sidecar."""
    from dosforge.preprocess.pipeline import init_worker, process_paths
    from dosforge.preprocess.stages import batches

    done = finished_sidecar(job)
    if done is not None:
        return done
    init_worker(job.grid, job.graph_builder, job.resample, job.phonon)
    accepted, rejects, point_groups, fallbacks = [], [], Counter(), 0
    sources, synthetic, graph_keys = set(), set(), None
    scales, mode_fractions = {}, []  # phonon records only: the normalisation scale and modes inside the window
    # batch by batch, each batch stage by stage (`stages`): the results of one record at a time, less CPU
    for result in (result for batch in batches(job.paths) for result in process_paths(batch)):
        if "reason" in result:
            rejects.append(result)
            continue
        fallbacks += result.pop("symprec") is None
        point_groups[result["point_group"]] += 1
        sources.add(result["source"])
        synthetic.add(bool(result["synthetic"]))
        graph_keys = sorted(result["graph"])
        if "scale" in result:
            scales[result["id"]] = result["scale"]
            mode_fractions.append(result["mode_fraction_in_window"])
        accepted.append(result)
    digest = write_shard(job.shard_path, accepted) if accepted else None
    if not accepted:
        job.shard_path.unlink(missing_ok=True)
    sidecar = {
        "version": SIDECAR_VERSION,
        "index": job.index,
        "inputs": input_fingerprint(job.paths),
        "n_records": len(job.paths),
        "n_materials": len(accepted),
        "ids": [m["id"] for m in accepted],
        "rejects": rejects,
        "point_groups": dict(sorted(point_groups.items())),
        "n_fallbacks": fallbacks,
        "sources": sorted(sources),
        "synthetic": sorted(synthetic),
        "graph_keys": graph_keys,
        "shard": job.shard_path.name if accepted else None,
        "sha256": digest,
    }
    if job.phonon is not None:
        sidecar.update(scales=scales, mode_fractions=mode_fractions)
    write_json(job.sidecar_path, sidecar)  # last: a sidecar exists only beside a complete shard
    return sidecar


def read_materials(path: str | Path) -> list[dict]:
    """The materials of a shard as the dicts `write_shard` takes (array slices, values unchanged)."""
    with h5py.File(path, "r") as f:
        d = {k: f[k][()] for k in f if k != "graph"}
        graph = {k: (f[f"graph/{k}/data"][()], f[f"graph/{k}/ptr"][()]) for k in f.get("graph", {})}
    strings = {k: [s.decode() if isinstance(s, bytes) else str(s) for s in d[k]] for k in _STRINGS}
    out = []
    for i in range(len(strings["ids"])):
        a, b = d["atom_ptr"][i], d["atom_ptr"][i + 1]
        e, g = d["epdos_ptr"][i], d["epdos_ptr"][i + 1]
        out.append(
            {
                "id": strings["ids"][i],
                **{k: strings[k][i] for k in _STRINGS if k != "ids"},
                **{k: d[k][i] for k in ("synthetic", "is_metal", "efermi", "gap", "epdos_residual", "dos", "lattice")},
                "epdos": d["epdos"][e:g],
                "epdos_z": d["epdos_z"][e:g],
                "atomic_numbers": d["atomic_numbers"][a:b],
                "cart_coords": d["cart_coords"][a:b],
                "graph": {k: data[ptr[i] : ptr[i + 1]] for k, (data, ptr) in graph.items()},
            }
        )
    return out


_STRINGS = ("ids", "formula", "point_group", "source", "gap_origin")
