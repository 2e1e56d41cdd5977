"""Stratified 7 : 1.5 : 1.5 split by point group: proportions per group, seeded, rare groups pooled."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from dosforge.split import stratified_split


@pytest.fixture(scope="module")
def population():
    sizes = {"m-3m": 400, "6/mmm": 200, "mmm": 140, "-1": 60, "4/m": 5, "432": 2, "3": 1}
    ids, groups = [], []
    for g, n in sizes.items():
        for k in range(n):
            ids.append(f"{g}-{k}")
            groups.append(g)
    return ids, groups, sizes


def test_partition_is_complete_and_stratified(population):
    ids, groups, sizes = population
    s = stratified_split(ids, groups, seed=1)
    parts = [s["train"], s["val"], s["test"]]
    assert sorted(sum(parts, [])) == sorted(ids)  # every id exactly once
    group_of = dict(zip(ids, groups, strict=True))
    for g in ("m-3m", "6/mmm", "mmm", "-1"):
        n = sizes[g]
        counts = [Counter(group_of[i] for i in p)[g] for p in parts]
        assert counts[1] == round(0.15 * n) and counts[2] == round(0.15 * n) and sum(counts) == n
    assert s["report"]["counts"] == {"train": 566, "val": 121, "test": 121}


def test_rare_groups_are_pooled_and_reported(population):
    ids, groups, _ = population
    s = stratified_split(ids, groups, seed=1, min_group_size=7)
    assert s["report"]["rare_groups"] == {"3": 1, "432": 2, "4/m": 5}
    assert s["report"]["per_stratum"]["rare"] == {"train": 6, "val": 1, "test": 1}


def test_same_seed_same_split_whatever_the_input_order(population):
    ids, groups, _ = population
    a = stratified_split(ids, groups, seed=7)
    pairs = list(zip(ids, groups, strict=True))
    random.Random(3).shuffle(pairs)
    b = stratified_split([p[0] for p in pairs], [p[1] for p in pairs], seed=7)
    assert a == b
    c = stratified_split(ids, groups, seed=8)
    assert c["test"] != a["test"]


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="duplicate ids"):
        stratified_split(["a", "a"], ["1", "1"])
    with pytest.raises(ValueError, match="sum"):
        stratified_split(["a"], ["1"], fractions=(0.5, 0.2, 0.2))


def test_split_stage_writes_ids_and_train_only_statistics(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    import numpy as np

    from dosforge.io import read_json, write_json
    from dosforge.normalize import Normalizer
    from dosforge.shards import write_shard

    rng = np.random.default_rng(0)
    mats = [
        {
            "id": f"m-{i:03d}",
            "formula": "X",
            "point_group": ["m-3m", "6mm", "-1"][i % 3],
            "source": "files",
            "gap_origin": "dos",
            "synthetic": False,
            "dos": rng.random(256),
            "epdos": rng.random((2, 256)),
            "epdos_z": np.array([8, 14]),
            "epdos_residual": 0.1,
            "efermi": float(i),
            "gap": 0.0,
            "is_metal": True,
            "atomic_numbers": np.array([8, 14]),
            "cart_coords": np.zeros((2, 3)),
            "lattice": np.eye(3),
            "graph": {},
        }
        for i in range(60)
    ]
    proc = tmp_path / "processed"
    sha = write_shard(proc / "shard-00000.h5", mats)
    write_json(
        proc / "manifest.json",
        {
            "ids": [m["id"] for m in mats],
            "grid": {"bins": 256},
            "shards": [{"file": "shard-00000.h5", "n": 60, "sha256": sha}],
        },
    )
    (tmp_path / "params.yaml").write_text("seed: 3\nsplit: {fractions: [0.7, 0.15, 0.15], min_group_size: 7}\n")
    path = Path(__file__).parents[1] / "stages" / "split.py"
    spec = importlib.util.spec_from_file_location("split_stage", path)
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    args = ["--params", str(tmp_path / "params.yaml"), "--processed", str(proc), "--out", str(tmp_path / "split")]
    assert stage.main(args) == 0
    assert "train 42 / val 9 / test 9" in capsys.readouterr().out
    split = read_json(tmp_path / "split" / "split.json")
    assert split["seed"] == 3 and len(split["train"]) == 42
    norm = Normalizer.from_json(tmp_path / "split" / "normalization.json")
    train_efermi = [float(m["id"][2:]) for m in mats if m["id"] in set(split["train"])]
    assert norm.stats["fermi"]["mean"] == np.mean(train_efermi)
