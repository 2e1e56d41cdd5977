"""HDF5 shards + manifest: round trip across shards, a damaged shard is an error naming the file, and the lazy load
(dosforge.shards_lazy) gives the eager values, read on demand across shards."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from dosforge.io import write_json
from dosforge.shards import ShardError, load_processed, write_shard
from dosforge.shards_lazy import ShardedArray

T = 256


def material(i: int, rng) -> dict:
    n_atoms, n_el, n_edges = 1 + i % 4, 1 + i % 3, 3 + i
    return {
        "id": f"m-{i}",
        "formula": f"X{i}",
        "point_group": ["m-3m", "6mm", "-1"][i % 3],
        "source": "files",
        "gap_origin": "dos",
        "synthetic": False,
        "dos": rng.random(T),
        "epdos": rng.random((n_el, T)),
        "epdos_z": np.arange(1, n_el + 1) * (i + 1),
        "epdos_residual": 0.1 * i,
        "efermi": 1.0 + i,
        "gap": 0.5 * (i % 2),
        "is_metal": i % 2 == 0,
        "atomic_numbers": np.full(n_atoms, 10 + i),
        "cart_coords": rng.random((n_atoms, 3)),
        "lattice": np.eye(3) * (3 + i),
        "graph": {"edge_index": np.full((n_edges, 2), i, dtype=np.int64), "lattice_vecs": np.eye(3, dtype=np.float32)},
    }


@pytest.fixture()
def written(tmp_path):
    rng = np.random.default_rng(0)
    mats = [material(i, rng) for i in range(7)]
    shards = []
    for k, block in enumerate([mats[:3], mats[3:6], mats[6:]]):
        name = f"shard-{k:05d}.h5"
        shards.append({"file": name, "n": len(block), "sha256": write_shard(tmp_path / name, block)})
    write_json(tmp_path / "manifest.json", {"ids": [m["id"] for m in mats], "shards": shards, "grid": {"bins": T}})
    return tmp_path, mats


def test_round_trip_across_shards(written):
    path, mats = written
    data = load_processed(path)
    assert data.ids == [m["id"] for m in mats] and len(data) == 7
    assert data.epdos_ptr[-1] == len(data.epdos) == sum(len(m["epdos"]) for m in mats)
    for i, m in enumerate(mats):
        s = data.sample(i)
        np.testing.assert_allclose(s["dos"], m["dos"], rtol=1e-6)
        np.testing.assert_allclose(s["epdos"], m["epdos"], rtol=1e-6)
        np.testing.assert_array_equal(s["epdos_z"], m["epdos_z"])
        np.testing.assert_array_equal(s["z"], m["atomic_numbers"])
        np.testing.assert_array_equal(s["graph"]["edge_index"], m["graph"]["edge_index"])
        np.testing.assert_array_equal(s["graph"]["lattice_vecs"], np.eye(3))
        assert s["efermi"] == pytest.approx(m["efermi"]) and s["is_metal"] == m["is_metal"]
        assert data.point_group[i] == m["point_group"] and data.index(m["id"]) == i
    assert data.dos.dtype == np.float32 and data.graph["edge_index"][1].dtype == np.int64


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_shard_is_an_error_naming_the_file(written, damage):
    path, _ = written
    shard = path / "shard-00001.h5"
    if damage == "flip":
        raw = bytearray(shard.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        shard.write_bytes(bytes(raw))
    elif damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:500])
    else:
        shard.unlink()
    with pytest.raises(ShardError, match="shard-00001.h5"):
        load_processed(path)


def test_truncated_shard_without_checksum_check_still_names_the_file(written):
    path, _ = written
    shard = path / "shard-00002.h5"
    shard.write_bytes(shard.read_bytes()[:300])
    with pytest.raises(ShardError, match="shard-00002.h5"):
        load_processed(path, verify=False)


def test_missing_manifest_says_what_to_run(tmp_path):
    with pytest.raises(ShardError, match="dvc repro preprocess"):
        load_processed(tmp_path)


# lazy loading (issue 14): memory for metadata only, the same values
@pytest.fixture()
def both(written):
    path, _ = written
    return load_processed(path, lazy=False), load_processed(path, lazy=True)


def test_lazy_holds_no_heavy_array_in_memory(both):
    _, lazy = both
    for name in ("dos", "epdos", "epdos_z", "cart_coords"):
        assert isinstance(getattr(lazy, name), ShardedArray), name
    assert all(isinstance(data, ShardedArray) for data, _ in lazy.graph.values())


def test_every_sample_equals_the_eager_one(both):
    eager, lazy = both
    assert lazy.ids == eager.ids and len(lazy) == len(eager)
    for i in range(len(eager)):
        a, b = eager.sample(i), lazy.sample(i)
        assert a.keys() == b.keys()
        for key in a:
            if key == "graph":
                for k in a["graph"]:
                    np.testing.assert_array_equal(a["graph"][k], b["graph"][k])
                    assert a["graph"][k].dtype == b["graph"][k].dtype
            elif isinstance(a[key], np.ndarray):
                np.testing.assert_array_equal(a[key], b[key])
                assert a[key].dtype == b[key].dtype
            else:
                assert a[key] == b[key]


def test_indexing_matches_numpy_across_shard_boundaries(both):
    eager, lazy = both
    rows = np.array([6, 0, 3, 3, 2])  # unsorted, repeated, spanning all three shards
    np.testing.assert_array_equal(lazy.dos[rows], eager.dos[rows])
    np.testing.assert_array_equal(lazy.dos[2:5], eager.dos[2:5])  # a slice over a shard boundary
    np.testing.assert_array_equal(lazy.dos[-1], eager.dos[-1])
    np.testing.assert_array_equal(np.asarray(lazy.epdos), eager.epdos)
    assert lazy.epdos.shape == eager.epdos.shape and lazy.dos[1:1].shape == (0, eager.dos.shape[1])
    with pytest.raises(IndexError):
        lazy.dos[len(eager)]


def test_pickles_without_open_handles(both):
    _, lazy = both
    lazy.dos[0]  # open a handle, then cross a process boundary the way a spawned worker would
    clone = pickle.loads(pickle.dumps(lazy.dos))
    np.testing.assert_array_equal(clone[4], lazy.dos[4])


def test_lazy_load_checks_sums_like_the_eager_one(written):
    path, _ = written
    shard = path / "shard-00001.h5"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(ShardError, match="shard-00001.h5"):
        load_processed(path, lazy=True)
