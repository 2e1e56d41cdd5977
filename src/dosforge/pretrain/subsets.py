"""Nested, point-group-stratified subsets of the training split for the label-scarcity check.

Per seed, each stratum (point group; groups with fewer than `min_group_size` training materials pooled,
as `dosforge.split` does) is shuffled once; a fraction takes a prefix of every stratum's order, so the
10 % subset lies inside the 25 % one and so on. Fractions are processed in ascending order and each
stratum's count never decreases: the materials still needed for round(f * N) go to the strata furthest
below their proportional share.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

RARE = "rare"


def nested_subsets(
    ids: list[str], groups: list[str], fractions_pct: list[int], seed: int, min_group_size: int = 7
) -> dict[int, list[str]]:
    if sorted(set(fractions_pct)) != sorted(fractions_pct) or not all(0 < f <= 100 for f in fractions_pct):
        raise ValueError(f"fractions must be distinct percentages in (0, 100], got {fractions_pct}")
    sizes = defaultdict(int)
    for g in groups:
        sizes[g] += 1
    strata = defaultdict(list)
    for i, g in zip(ids, groups, strict=True):
        strata[RARE if sizes[g] < min_group_size else g].append(i)
    rng = np.random.default_rng(seed)
    order = {s: [sorted(strata[s])[k] for k in rng.permutation(len(strata[s]))] for s in sorted(strata)}
    counts = dict.fromkeys(order, 0)
    out = {}
    for pct in sorted(fractions_pct):
        f = pct / 100.0
        need = round(f * len(ids)) - sum(counts.values())
        while need > 0:
            s = max((s for s in order if counts[s] < len(order[s])), key=lambda s: (f * len(order[s]) - counts[s], s))
            counts[s] += 1
            need -= 1
        out[pct] = sorted(i for s in order for i in order[s][: counts[s]])
    return out


def repeat_to(subset: list[str], n: int, seed: int) -> list[str]:
    """`subset` repeated and shuffled to n ids, so an epoch of a subset run takes as many steps as the full run."""
    reps = -(-n // len(subset))
    tiled = np.array(sorted(subset) * reps)
    return tiled[np.random.default_rng(seed).permutation(len(tiled))][:n].tolist()
