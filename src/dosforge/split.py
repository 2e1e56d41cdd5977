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


# --- split strategies (issue 10; DESIGN.md "Splits") ---------------------------------------------------------------
# `point_group` is the function above, unchanged (its split.json carries no `strategy` key, so the default split
# stays byte-identical); the others follow DOSTransformer's supplement (A.3, B, E.1) and record the strategy and
# the group of every held-out material.
STRATEGIES = ("point_group", "random", "species_count", "crystal_system")

# The 32 crystallographic point groups (Hermann-Mauguin, as spglib/pymatgen write them, both settings of the
# -42m/-4m2 and -6m2/-62m classes) -> the 7 crystal systems. The rhombohedral lattices belong to trigonal.
CRYSTAL_SYSTEMS = ("cubic", "hexagonal", "tetragonal", "trigonal", "orthorhombic", "monoclinic", "triclinic")
_SYSTEM_OF = {
    "triclinic": ("1", "-1"),
    "monoclinic": ("2", "m", "2/m"),
    "orthorhombic": ("222", "mm2", "mmm"),
    "tetragonal": ("4", "-4", "4/m", "422", "4mm", "-42m", "-4m2", "4/mmm"),
    "trigonal": ("3", "-3", "32", "321", "312", "3m", "3m1", "31m", "-3m", "-3m1", "-31m"),
    "hexagonal": ("6", "-6", "6/m", "622", "6mm", "-6m2", "-62m", "6/mmm"),
    "cubic": ("23", "m-3", "432", "-43m", "m-3m"),
}
POINT_GROUP_TO_SYSTEM = {pg: system for system, groups in _SYSTEM_OF.items() for pg in groups}
# DOSTransformer's prompt index (released code): 0 cubic ... 5 monoclinic, 6 anything else (triclinic)
SYSTEM_INDEX = {s: i for i, s in enumerate(CRYSTAL_SYSTEMS)}

SPECIES_NAMES = {1: "unary", 2: "binary", 3: "ternary", 4: "quaternary", 5: "quinary", 6: "senary", 7: "septenary"}
SPECIES_TRAIN = ("binary", "ternary")
SPECIES_HELD_OUT = ("unary", "quaternary", "quinary")  # senary and more: dropped (counted)
SYSTEM_TRAIN = ("cubic", "hexagonal", "tetragonal", "trigonal", "orthorhombic")
SYSTEM_HELD_OUT = ("monoclinic", "triclinic")


def crystal_system(point_group: str) -> str:
    """The crystal system of a point-group symbol; an unknown symbol is an error naming it."""
    try:
        return POINT_GROUP_TO_SYSTEM[str(point_group)]
    except KeyError:
        raise ValueError(f"unknown point group {point_group!r}: not one of the 32 crystallographic classes") from None


def species_group(n_species: int) -> str:
    return SPECIES_NAMES.get(int(n_species), f"{int(n_species)}-ary")


def random_split(ids: list[str], fractions=(0.8, 0.1, 0.1), seed: int = 42) -> dict:
    """Ids sorted, shuffled by a generator seeded from `seed`, cut round(n f_val) / round(n f_test); train: the rest."""
    _check_ids(ids, ids)
    fractions = _check_fractions(fractions)
    members = sorted(ids)
    order = np.random.default_rng(seed).permutation(len(members))
    cut = [members[i] for i in order]
    n = len(cut)
    n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
    n_train = n - n_val - n_test
    parts = {"train": cut[:n_train], "val": cut[n_train : n_train + n_val], "test": cut[n_train + n_val :]}
    report = {"n": n, "counts": {k: len(v) for k, v in parts.items()}, "n_dropped": 0, "dropped": {}}
    split = {"strategy": "random", "seed": seed, "fractions": list(fractions)}
    split.update({k: sorted(v) for k, v in parts.items()})
    return {**split, "groups": {}, "report": report}


def group_split(
    ids: list[str],
    groups: list[str],
    train_groups,
    held_out_groups,
    strategy: str,
    seed: int = 42,
) -> dict:
    """Out-of-distribution split: materials of `train_groups` train, those of `held_out_groups` are shuffled
    (sorted, then a generator seeded from `seed`) and cut 50/50 into validation and test (the test half takes
    the odd one, as sklearn's train_test_split(test_size=0.5) does); every other group is dropped and counted.
    `groups` in the result maps each held-out material to its group."""
    _check_ids(ids, groups)
    train_groups, held_out_groups = tuple(train_groups), tuple(held_out_groups)
    by_group: dict[str, list[str]] = defaultdict(list)
    for material_id, group in zip(ids, groups, strict=True):
        by_group[group].append(material_id)
    train = sorted(m for g in train_groups for m in by_group.get(g, []))
    held = sorted(m for g in held_out_groups for m in by_group.get(g, []))
    order = np.random.default_rng(seed).permutation(len(held))
    cut = [held[i] for i in order]
    n_val = len(cut) // 2
    val, test = cut[:n_val], cut[n_val:]
    group_of = dict(zip(ids, groups, strict=True))
    dropped = {g: len(v) for g, v in sorted(by_group.items()) if g not in train_groups + held_out_groups}
    test_set = set(test)
    per_group = {
        g: {
            "n": len(by_group.get(g, [])),
            "role": "train" if g in train_groups else ("held_out" if g in held_out_groups else "dropped"),
            "val": sum(1 for m in by_group.get(g, []) if g in held_out_groups and m not in test_set),
            "test": sum(1 for m in by_group.get(g, []) if m in test_set),
        }
        for g in sorted(by_group)
    }
    report = {
        "n": len(ids),
        "counts": {"train": len(train), "val": len(val), "test": len(test)},
        "n_dropped": sum(dropped.values()),
        "dropped": dropped,
        "train_groups": list(train_groups),
        "held_out_groups": list(held_out_groups),
        "per_group": per_group,
    }
    return {
        "strategy": strategy,
        "seed": seed,
        "fractions": None,
        "train": train,
        "val": sorted(val),
        "test": sorted(test),
        "groups": {m: group_of[m] for m in sorted(val + test)},
        "report": report,
    }


def make_split(strategy: str, data, *, fractions=(0.7, 0.15, 0.15), seed: int = 42, min_group_size: int = 7) -> dict:
    """The split of `data` (a ProcessedData) by `strategy` (`STRATEGIES`; an unknown one is an error listing them)."""
    from dosforge.config import choice

    choice(strategy, STRATEGIES, "split.strategy")
    if strategy == "point_group":
        return stratified_split(data.ids, data.point_group, fractions, seed, min_group_size)
    if strategy == "random":
        return random_split(data.ids, fractions, seed)
    if strategy == "species_count":
        groups = [species_group(n) for n in species_counts(data)]
        return group_split(data.ids, groups, SPECIES_TRAIN, SPECIES_HELD_OUT, strategy, seed)
    groups = [crystal_system(pg) for pg in data.point_group]
    return group_split(data.ids, groups, SYSTEM_TRAIN, SYSTEM_HELD_OUT, strategy, seed)


def species_counts(data) -> list[int]:
    """Number of distinct elements of each material of a ProcessedData."""
    ptr, z = data.atom_ptr, data.atomic_numbers
    return [len(np.unique(z[ptr[i] : ptr[i + 1]])) for i in range(len(data.ids))]


def _check_ids(ids, groups) -> None:
    if len(ids) != len(groups):
        raise ValueError(f"{len(ids)} ids but {len(groups)} groups")
    if len(set(ids)) != len(ids):
        dup = [i for i, c in Counter(ids).items() if c > 1][:5]
        raise ValueError(f"duplicate ids in the processed data, e.g. {dup}")


def _check_fractions(fractions) -> tuple[float, float, float]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split.fractions={list(fractions)} must be three non-negative numbers summing to 1")
    return fractions
