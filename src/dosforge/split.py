"""Train/val/test split, 7 : 1.5 : 1.5, stratified by crystallographic point group (paper section 4.1, appendix B).

Within each stratum the ids are sorted, shuffled with a generator seeded from `seed`, and cut so the
stratum's val and test counts are round(n * fraction) and train takes the rest; the same ids and
seed always give the same split, whatever order the ids come in. Point groups with fewer than
`min_group_size` materials cannot be cut 7 : 1.5 : 1.5 meaningfully (below 7, 15 % rounds to at most
one material); they are pooled into one "rare" stratum that is split the same way, and the report
lists them.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

RARE = "rare"


def stratified_split(
    ids: list[str],
    groups: list[str],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 42,
    min_group_size: int = 7,
) -> dict:
    """`{"seed", "fractions", "train", "val", "test", "report"}` with id lists sorted within each part."""
    if len(ids) != len(groups):
        raise ValueError(f"{len(ids)} ids but {len(groups)} point groups")
    if len(set(ids)) != len(ids):
        dup = [i for i, c in Counter(ids).items() if c > 1][:5]
        raise ValueError(f"duplicate ids in the processed data, e.g. {dup}")
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split.fractions={list(fractions)} must be three non-negative numbers summing to 1")

    sizes = Counter(groups)
    rare_groups = sorted(g for g, n in sizes.items() if n < min_group_size)
    strata: dict[str, list[str]] = defaultdict(list)
    for material_id, group in zip(ids, groups, strict=True):
        strata[RARE if group in rare_groups else group].append(material_id)

    rng = np.random.default_rng(seed)
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    per_stratum = {}
    for stratum in sorted(strata):  # fixed order: the generator's draws do not depend on input order
        members = sorted(strata[stratum])
        order = rng.permutation(len(members))
        n = len(members)
        n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
        n_train = n - n_val - n_test
        cut = [members[i] for i in order]
        parts["train"] += cut[:n_train]
        parts["val"] += cut[n_train : n_train + n_val]
        parts["test"] += cut[n_train + n_val :]
        per_stratum[stratum] = {"train": n_train, "val": n_val, "test": n_test}

    total = len(ids)
    report = {
        "n": total,
        "counts": {k: len(v) for k, v in parts.items()},
        "realised_fractions": {k: (len(v) / total if total else 0.0) for k, v in parts.items()},
        "n_point_groups": len(sizes),
        "min_group_size": min_group_size,
        "rare_groups": {g: sizes[g] for g in rare_groups},
        "per_stratum": per_stratum,
    }
    return {
        "seed": seed,
        "fractions": list(fractions),
        **{k: sorted(v) for k, v in parts.items()},
        "report": report,
    }
