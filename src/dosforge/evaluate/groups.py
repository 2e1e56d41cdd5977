"""Per-held-out-group test metrics (issue 10; DOSTransformer supplement Table 8 style).

A split made with `split.strategy` species_count or crystal_system records the group of every held-out material
(`split.json` "groups"); every model's test predictions (DOSForge models, hosted baselines and the trivial
baselines alike) are scored on each group's test materials with the same metric contract.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from dosforge.grid import EnergyGrid
from dosforge.metrics import compute_metrics, json_ready
from dosforge.predictions import Predictions

GROUP_KEYS = ("dos.wd_bins", "dos.mae", "dos.mse", "dos.r2", "epdos.wd_bins", "fermi.mae_ev", "gap.mae_ev", "n_test")


def subset(pred: Predictions, keep: np.ndarray) -> Predictions:
    """The materials of `pred` where `keep` (N,) is True, EPDOS rows and pointers included."""
    keep = np.asarray(keep, bool)
    rows = np.flatnonzero(keep)
    e_rows = [np.arange(pred.epdos_ptr[i], pred.epdos_ptr[i + 1]) for i in rows]
    e_rows = np.concatenate(e_rows).astype(np.int64) if e_rows else np.zeros(0, np.int64)
    counts = np.diff(pred.epdos_ptr)[rows]
    kw = {}
    for f in fields(Predictions):
        v = getattr(pred, f.name)
        if f.name in ("ids", "formula"):
            kw[f.name] = [v[i] for i in rows]
        elif f.name == "epdos_ptr":
            kw[f.name] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        elif f.name.startswith("epdos_"):
            kw[f.name] = np.asarray(v)[e_rows]
        else:
            kw[f.name] = np.asarray(v)[rows]
    return Predictions(**kw)


def group_metrics(pred: Predictions, groups: dict[str, str], grid: EnergyGrid, tasks=None) -> dict[str, dict]:
    """group -> metrics of the test materials of that group (groups sorted by name; materials without a group
    are not scored here)."""
    labels = np.array([groups.get(m, "") for m in pred.ids], dtype=object)
    out = {}
    for g in sorted({x for x in labels if x}):
        metrics = json_ready(compute_metrics(subset(pred, labels == g), grid, tasks))
        out[g] = {k: metrics.get(k) for k in GROUP_KEYS}
    return out
