"""The work folder: one per setting/code fingerprint, other settings' folders dropped after a successful run."""

from __future__ import annotations

from real_fixtures import stand_in_graph

from dosforge.preprocess import preprocess


def test_a_changed_setting_never_reuses_work_and_old_folders_are_dropped(real_params, real_raw, tmp_path):
    def run(resample: str) -> dict:
        cfg = {"workers": 1, "chunk_records": 2, "work_dir": str(tmp_path / "work"), "resample": resample}
        report: dict = {}
        preprocess(
            real_raw, tmp_path / resample, {**real_params, "preprocess": cfg}, stand_in_graph, progress=False,
            run_report=report,
        )  # fmt: skip
        return report

    first, second = run("interpolate"), run("average")
    assert first["work_dir"] != second["work_dir"] and second["computed"] == [0, 1, 2]
    assert [p.name for p in (tmp_path / "work").iterdir()] == [second["work_dir"].rsplit("/", 1)[-1]]
    assert run("average")["reused"] == [0, 1, 2]


def test_without_a_work_dir_nothing_is_kept(real_params, real_raw, tmp_path):
    report: dict = {}
    params = {**real_params, "preprocess": {"workers": 1}}
    preprocess(real_raw, tmp_path / "out", params, stand_in_graph, progress=False, run_report=report)
    assert report["computed"] == [0] and not list(tmp_path.glob("**/chunk-*"))
