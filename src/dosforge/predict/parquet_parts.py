"""One Parquet part per input shard, with a JSON sidecar that marks it finished.

`part-<k>.parquet` holds one row per structure of shard k, in input order (schema `PART_SCHEMA`,
documented in docs/predict.md); `part-<k>.json` records the shard's input fingerprint, the run key
(checkpoint and options), the counts, the elements predicted and the Parquet file's sha256. Both are
written atomically, the sidecar last: a part counts as finished only when its sidecar exists, names
the same inputs and run key, and its sha256 matches the Parquet file, so a part cut short by a kill,
or damaged later, is predicted again on resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dosforge.io import atomic_path, read_json, write_json
from dosforge.predict.result import PredictionFailure, PredictionResult
from dosforge.shards import sha256

SPECTRUM = pa.list_(pa.float32())
PART_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("status", pa.string()),  # "ok" or "failed"
        ("error", pa.string()),  # the reason, for failed rows
        ("formula", pa.string()),
        ("n_sites", pa.int32()),
        ("n_sites_model", pa.int32()),
        ("efermi_ev", pa.float64()),
        ("gap_ev", pa.float64()),
        ("gap_ext_ev", pa.float64()),
        ("epdos_sum_residual", pa.float64()),
        ("epdos_rescaled", pa.bool_()),
        ("dos", SPECTRUM),  # on the grid of metadata.json (energies_ev), per input cell
        ("epdos_elements", pa.list_(pa.string())),  # element symbols, sorted by Z
        ("epdos", pa.list_(SPECTRUM)),  # one spectrum per epdos_elements entry
    ]
)


def part_paths(out_dir: str | Path, k: int) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    return out_dir / f"part-{k:05d}.parquet", out_dir / f"part-{k:05d}.json"


def outcome_row(o: PredictionResult | PredictionFailure) -> dict:
    """A row of `PART_SCHEMA`; spectra as float32 (NaN scalars stay NaN, absent quantities are null)."""
    if isinstance(o, PredictionFailure):
        return {"id": o.id, "source": o.source, "status": "failed", "error": o.reason}
    elements = list(o.epdos) if o.epdos is not None else None
    return {
        "id": o.id,
        "source": o.source,
        "status": "ok",
        "error": None,
        "formula": o.formula,
        "n_sites": o.n_sites,
        "n_sites_model": o.n_sites_model,
        "efermi_ev": float(o.efermi),
        "gap_ev": float(o.gap),
        "gap_ext_ev": float(o.gap_ext),
        "epdos_sum_residual": float(o.epdos_sum_residual),
        "epdos_rescaled": bool(o.epdos_rescaled),
        "dos": None if o.dos is None else np.asarray(o.dos, np.float32),
        "epdos_elements": elements,
        "epdos": None if elements is None else [np.asarray(o.epdos[el], np.float32) for el in elements],
    }


def write_part(out_dir: str | Path, k: int, rows: Sequence[dict], sidecar: dict) -> dict:
    """Write part k (Parquet, then its sidecar, each atomically); return the sidecar as written."""
    parquet, meta = part_paths(out_dir, k)
    table = pa.Table.from_pylist(list(rows), schema=PART_SCHEMA)
    with atomic_path(parquet) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    ok = [r for r in rows if r["status"] == "ok"]
    elements = by_z({el for r in ok for el in (r.get("epdos_elements") or [])})
    sidecar = {
        **sidecar,
        "shard": k,
        "file": parquet.name,
        "rows": len(rows),
        "predicted": len(ok),
        "failed": len(rows) - len(ok),
        "elements": elements,
        "sha256": sha256(parquet),
    }
    write_json(meta, sidecar)
    return sidecar


def finished_sidecar(out_dir: str | Path, k: int, inputs_sha256: str, run_key: str) -> dict | None:
    """Part k's sidecar when the part is finished for these inputs and run key, else None (redo it)."""
    parquet, meta = part_paths(out_dir, k)
    if not (parquet.is_file() and meta.is_file()):
        return None
    try:
        sidecar = read_json(meta)
    except ValueError:  # a damaged sidecar: the part is redone
        return None
    if sidecar.get("inputs_sha256") != inputs_sha256 or sidecar.get("run_key") != run_key:
        return None
    return sidecar if sidecar.get("sha256") == sha256(parquet) else None


def by_z(symbols) -> list[str]:
    """Element symbols sorted by atomic number, as everywhere in the outputs."""
    from pymatgen.core import Element

    return sorted(symbols, key=lambda el: Element(el).Z)


def read_parts(out_dir: str | Path) -> pa.Table:
    """Every finished part of a batch run, concatenated in shard order (the rows in input order)."""
    files = sorted(Path(out_dir).glob("part-*.parquet"))
    if not files:
        return PART_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=PART_SCHEMA) for f in files])
