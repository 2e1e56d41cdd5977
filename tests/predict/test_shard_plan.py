"""Batch-mode input listing and shards: nothing named is dropped, ids are unique, shards are cut by position."""

from __future__ import annotations

import pytest

from dosforge.predict.shard_plan import InputFile, ShardPlan, list_input_files, read_list_file


@pytest.fixture
def folder(tmp_path, silicon, rocksalt):
    d = tmp_path / "in"
    d.mkdir()
    silicon.to(filename=str(d / "Si.json"))
    rocksalt.to(filename=str(d / "NaCl.cif"))
    (d / "readme.txt").write_text("not a structure")
    (d / ".hidden.cif").write_text("ignored")
    (d / "sub").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    silicon.to(filename=str(other / "Si.json"))
    return d, other


def test_listing_reports_every_name_and_makes_ids_unique(folder, tmp_path):
    d, other = folder
    files, skipped = list_input_files([d, other / "Si.json", d / "Si.json", tmp_path / "missing.cif", "mp-149"])
    missing = str(tmp_path / "missing.cif")  # the name as given is its id, as in the JSON mode
    assert [f.id for f in files] == ["NaCl", "Si", "Si#2", missing, "mp-149"]  # d/Si.json named twice: read once
    errors = {f.id: f.error for f in files if f.error}
    assert "no such file" in errors[missing]
    assert "--format json" in errors["mp-149"]
    assert {s["path"].rsplit("/", 1)[-1]: s["reason"][:14] for s in skipped} == {
        "readme.txt": "not a structur",
        "sub": "sub-folder not",
    }


def test_glob_without_match_and_empty_folder_are_failed_inputs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    files, _ = list_input_files([str(tmp_path / "*.cif"), empty])
    assert [f.error.split(":")[0] for f in files] == ["glob matched no files", f"no structure files in folder {empty}"]


def test_list_file_ignores_comments_and_blank_lines(tmp_path):
    lst = tmp_path / "inputs.txt"
    lst.write_text("# candidates\na.cif\n\n  b.cif  \n")
    assert read_list_file(lst) == ["a.cif", "b.cif"]


def test_shards_are_cut_by_position_and_taken_by_rank():
    plan = ShardPlan([InputFile(str(i), f"{i}.cif") for i in range(10)], shard_size=4)
    assert plan.n_shards == 3 and [f.id for f in plan.shard(2)] == ["8", "9"]
    assert plan.shards_of(0, 2) == [0, 2] and plan.shards_of(1, 2) == [1]
    assert plan.shard_sha256(0) != plan.shard_sha256(1)
    moved = ShardPlan([InputFile(str(i), f"{i}.cif") for i in range(1, 11)], shard_size=4)
    assert moved.shard_sha256(0) != plan.shard_sha256(0)  # a finished part is reused only for the same inputs
    with pytest.raises(ValueError, match="rank 2"):
        plan.shards_of(2, 2)
    with pytest.raises(ValueError, match="shard_size"):
        ShardPlan([], shard_size=0)
