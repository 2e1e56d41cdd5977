"""The reduce step of preprocess: chunk work shards + sidecars -> `shard-NNNNN.h5`, `manifest.json`, `rejects.csv`.

The final layout is what it was before chunking (issue 14): shard k holds accepted materials
`[k * shard_size, (k + 1) * shard_size)` in input order, whatever the chunk boundaries. So the work
shards are an intermediate: their materials are streamed in chunk order into `write_shard` in
blocks of `shard_size`. `write_shard` receives exactly the arrays (same values, same dtypes) it got
when one parent wrote every shard, so the processed files are byte-identical to that layout.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from dosforge.io import write_text
from dosforge.preprocess.chunks import read_materials
from dosforge.shards import write_shard


def write_final_shards(out_dir: Path, work_dir: Path, sidecars: list[dict], shard_size: int) -> list[dict]:
    """Concatenate the chunks' accepted materials in order into shards of `shard_size`; return their entries."""
    shards, buffer = [], []
    for sidecar in sidecars:
        if sidecar["shard"] is None:
            continue
        for material in read_materials(work_dir / sidecar["shard"]):
            buffer.append(material)
            if len(buffer) == shard_size:
                shards.append(_flush(out_dir, len(shards), buffer))
                buffer = []
    if buffer:
        shards.append(_flush(out_dir, len(shards), buffer))
    return shards


def _flush(out_dir: Path, index: int, buffer: list[dict]) -> dict:
    name = f"shard-{index:05d}.h5"
    return {"file": name, "n": len(buffer), "sha256": write_shard(out_dir / name, buffer)}


def summarise(sidecars: list[dict]) -> dict:
    """Counts over every chunk, in chunk order."""
    point_groups, sources, synthetic, graph_keys = Counter(), set(), set(), None
    for s in sidecars:
        point_groups.update(s["point_groups"])
        sources.update(s["sources"])
        synthetic.update(s["synthetic"])
        graph_keys = s["graph_keys"] if s["graph_keys"] is not None else graph_keys
    return {
        "ids": [i for s in sidecars for i in s["ids"]],
        "rejects": [{**r, "stage": "preprocess"} for s in sidecars for r in s["rejects"]],
        "point_groups": dict(sorted(point_groups.items())),
        "n_fallbacks": sum(s["n_fallbacks"] for s in sidecars),
        "sources": sources,
        "synthetic": synthetic,
        "graph_keys": graph_keys,
        "scales": {k: v for s in sidecars for k, v in s.get("scales", {}).items()},  # phonon chunks only
        "mode_fractions": [f for s in sidecars for f in s.get("mode_fractions", [])],
    }


def write_rejects_csv(path: Path, rejects: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["id", "source_file", "stage", "reason", "detail"], lineterminator="\n")
    writer.writeheader()
    for r in rejects:
        writer.writerow({k: r.get(k, "") for k in writer.fieldnames})
    write_text(path, buf.getvalue())
