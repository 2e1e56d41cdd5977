"""Learning-curve data: `models/<name>/history.json` -> one flat row per epoch -> CSV that DVC plots.

The training history is a list of per-epoch records (or a dict of equal-length lists, or a dict
holding such a list under "epochs"/"history"); nested dicts are flattened with "_"
(`{"train": {"loss": 1}}` -> `train_loss`). Rows get an `epoch` column (1-based when absent) so
`dvc plots show` can use it as the x axis.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from dosforge.io import read_json, write_text


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "_"))
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or v is None:
            continue  # non-numeric bookkeeping (timestamps as strings, flags) is not a curve
        else:
            out[key] = v
    return out


def history_rows(history) -> list[dict]:
    """Normalise a training history into a list of flat numeric rows, each with an `epoch`."""
    if isinstance(history, dict):
        for key in ("epochs", "history"):
            if isinstance(history.get(key), list):
                return history_rows(history[key])
        lists = {k: v for k, v in history.items() if isinstance(v, list)}
        lengths = {len(v) for v in lists.values()}
        if len(lengths) != 1:
            raise ValueError(f"history dict must hold equal-length per-epoch lists; got lengths {sorted(lengths)}")
        n = lengths.pop()
        history = [{k: v[i] for k, v in lists.items()} for i in range(n)]
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise ValueError("history must be a list of per-epoch records (dicts)")
    rows = []
    for i, rec in enumerate(history):
        row = _flatten(rec)
        row["epoch"] = int(row.get("epoch", i + 1))
        rows.append({"epoch": row.pop("epoch"), **row})
    return rows


def load_history(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the train/ablate stage writes it next to test_predictions.h5")
    return history_rows(read_json(path))


def write_curve_csv(rows: list[dict], path: str | Path) -> Path:
    """Write the rows as CSV (header = union of columns; a value missing in an epoch is left empty)."""
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {c: "" if (v := r.get(c)) is None or (isinstance(v, float) and math.isnan(v)) else v for c in columns}
        )
    write_text(path, buf.getvalue())
    return Path(path)
