"""split.strategy (issue 10): membership rules of random, species_count and crystal_system; point_group unchanged."""

from types import SimpleNamespace

import numpy as np
import pytest

from dosforge.config import ConfigError
from dosforge.split import (
    CRYSTAL_SYSTEMS,
    POINT_GROUP_TO_SYSTEM,
    crystal_system,
    group_split,
    make_split,
    random_split,
    stratified_split,
)

POINT_GROUPS_32 = (
    "1 -1 2 m 2/m 222 mm2 mmm 4 -4 4/m 422 4mm -42m 4/mmm 3 -3 32 3m -3m"
    " 6 -6 6/m 622 6mm -6m2 6/mmm 23 m-3 432 -43m m-3m"
)


def _data(species: list[int], pgs: list[str]):
    """A ProcessedData stand-in: material i has `species[i]` distinct elements and point group pgs[i]."""
    z, ptr = [], [0]
    for n in species:
        z += list(range(1, n + 1)) + [1]  # a repeated element must not count twice
        ptr.append(len(z))
    ids = [f"m{i:03d}" for i in range(len(species))]
    return SimpleNamespace(ids=ids, point_group=pgs, atomic_numbers=np.array(z), atom_ptr=np.array(ptr))


def test_32_point_groups_map_to_7_systems():
    systems = [crystal_system(pg) for pg in POINT_GROUPS_32.split()]
    assert len(systems) == 32 and set(systems) == set(CRYSTAL_SYSTEMS)
    assert systems.count("triclinic") == 2 and systems.count("monoclinic") == 3 and systems.count("cubic") == 5
    assert crystal_system("-3m") == "trigonal" and crystal_system("-6m2") == "hexagonal"
    assert POINT_GROUP_TO_SYSTEM["-4m2"] == "tetragonal"
    with pytest.raises(ValueError, match="unknown point group"):
        crystal_system("7")


def test_species_count_membership():
    species = [1] * 10 + [2] * 20 + [3] * 20 + [4] * 9 + [5] * 5 + [6] * 3 + [7]
    data = _data(species, ["m-3m"] * len(species))
    s = make_split("species_count", data, seed=0)
    n_of = dict(zip(data.ids, species, strict=True))
    assert {n_of[m] for m in s["train"]} == {2, 3} and len(s["train"]) == 40
    held = s["val"] + s["test"]
    assert {n_of[m] for m in held} == {1, 4, 5} and len(held) == 24
    assert len(s["val"]) == 12 and len(s["test"]) == 12
    assert s["report"]["n_dropped"] == 4 and s["report"]["dropped"] == {"senary": 3, "septenary": 1}
    assert s["strategy"] == "species_count"
    assert set(s["groups"]) == set(held)
    assert all(s["groups"][m] == {1: "unary", 4: "quaternary", 5: "quinary"}[n_of[m]] for m in held)
    assert not set(s["train"]) & set(held)


def test_crystal_system_membership_and_odd_count_to_test():
    pgs = ["m-3m"] * 5 + ["6/mmm"] * 4 + ["4/mmm"] * 4 + ["-3m"] * 3 + ["mmm"] * 3 + ["2/m"] * 4 + ["-1"] * 3
    data = _data([2] * len(pgs), pgs)
    s = make_split("crystal_system", data, seed=1)
    system = {m: crystal_system(pg) for m, pg in zip(data.ids, pgs, strict=True)}
    assert {system[m] for m in s["train"]} == {"cubic", "hexagonal", "tetragonal", "trigonal", "orthorhombic"}
    assert {system[m] for m in s["val"] + s["test"]} == {"monoclinic", "triclinic"}
    assert (len(s["val"]), len(s["test"])) == (3, 4)  # 7 held out: the test half takes the odd one (sklearn)
    assert s["report"]["n_dropped"] == 0
    assert s["groups"] == {m: system[m] for m in s["val"] + s["test"]}


def test_random_split_is_seeded_and_order_free():
    ids = [f"x{i}" for i in range(50)]
    a = random_split(ids, (0.8, 0.1, 0.1), seed=3)
    b = random_split(ids[::-1], (0.8, 0.1, 0.1), seed=3)
    assert a == b and (len(a["train"]), len(a["val"]), len(a["test"])) == (40, 5, 5)
    assert sorted(a["train"] + a["val"] + a["test"]) == sorted(ids)
    assert random_split(ids, (0.8, 0.1, 0.1), seed=4)["test"] != a["test"]


def test_point_group_strategy_is_the_old_split_without_new_keys():
    pgs = ["m-3m", "mmm", "2/m", "-1"] * 10
    data = _data([2] * 40, pgs)
    assert make_split("point_group", data, seed=5) == stratified_split(data.ids, pgs, seed=5)
    assert "strategy" not in make_split("point_group", data, seed=5)  # keeps the default split.json byte-identical


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="crystal_system"):
        make_split("by_colour", _data([2], ["1"]))


def test_group_split_drops_unlisted_groups():
    s = group_split(["a", "b", "c", "d"], ["x", "y", "y", "z"], ["x"], ["y"], "custom", seed=0)
    assert s["train"] == ["a"] and sorted(s["val"] + s["test"]) == ["b", "c"] and s["report"]["dropped"] == {"z": 1}
