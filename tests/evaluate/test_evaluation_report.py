"""The Markdown report: Table 2 (with the combined Single row), the paper beside ours, the synthetic statement."""

import math

from dosforge.evaluate.report import build_report, is_synthetic, table2
from dosforge.metrics import CONTRACT_KEYS

NAN = math.nan


def _m(**kw):
    out = dict.fromkeys(CONTRACT_KEYS, None)
    out["n_test"] = 10
    out.update({k.replace("_", ".", 1) if "." not in k else k: v for k, v in kw.items()})
    return out


METRICS = {
    "single_dos": _m(dos_wd_bins=1.5, gap_ext_mae_ev=0.9),
    "single_epdos": _m(epdos_wd_bins=2.25),
    "single_fermi": _m(fermi_mae_ev=0.3),
    "single_gap": _m(gap_mae_ev=0.4),
    "cross2": _m(dos_wd_bins=1.25, epdos_wd_bins=2.5, gap_ext_mae_ev=0.8),
    "dosforge": _m(dos_wd_bins=1.0, epdos_wd_bins=2.0, fermi_mae_ev=0.2, gap_mae_ev=0.1, gap_ext_mae_ev=0.1),
}


def _row(text, tasks, label):
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[:2] == [tasks, label]:
            return cells[2:]
    raise AssertionError(f"no row {tasks}/{label} in\n{text}")


def test_single_row_combines_the_four_single_task_models_with_ext_gap_from_single_dos():
    cells = _row(table2(METRICS), "1-task", "Single")
    # pairs (ours, paper): DOS WD, EPDOS WD, E_F, E_g, E_g^ext
    assert cells[0::2] == ["1.500", "2.250", "0.300", "0.400", "0.900"]
    assert cells[1::2] == ["6.543", "8.401", "0.229", "0.189", "0.284"]


def test_best_of_ours_is_bold_and_missing_models_are_dashes():
    text = table2(METRICS)
    assert _row(text, "4-task", "DOSForge")[0::2] == ["**1.000**", "**2.000**", "**0.200**", "**0.100**", "**0.100**"]
    assert _row(text, "2-task", "Cross-cond.")[0::2] == ["1.250", "2.500", "–", "–", "0.800"]
    assert _row(text, "4-task", "Parallel")[0::2] == ["–"] * 5  # parallel4 not evaluated here
    assert _row(text, "4-task", "DOSForge‡")[1::2] == ["5.733", "7.953", "0.217", "0.192", "0.196"]


def test_synthetic_data_get_a_prominent_not_comparable_statement():
    report = build_report(METRICS, None, {"source": "embedded", "synthetic": True}, list(CONTRACT_KEYS))
    head = report.split("## Table 2")[0]
    assert "SYNTHETIC" in head and "NOT comparable" in head and "tight-binding" in head
    assert "R² is computed per material" in report and "Xtal2DoS (paper, DFT)" in report


def test_dft_data_get_no_synthetic_statement():
    assert not is_synthetic({"source": "mp", "synthetic": False})
    assert is_synthetic({"source": "files", "synthetic": [False, True]})  # any synthetic record taints the set
    report = build_report(METRICS, None, {"source": "mp", "synthetic": False}, list(CONTRACT_KEYS))
    assert "SYNTHETIC" not in report and "## Table 2" in report


def test_gap_validation_section_shows_ours_beside_the_paper():
    gv = {"n": 5, "n_metals": 2, "n_non_metals": 3, "k": 10.0, "threshold": 0.02}
    gv.update(
        {f"{m}.{g}mae_ev": 0.01 for m in ("algorithm1", "threshold_scan") for g in ("", "metals_", "non_metals_")}
    )
    report = build_report(METRICS, gv, {"source": "mp", "synthetic": False}, list(CONTRACT_KEYS))
    section = report.split("## Gap extraction on ground truth")[1].split("##")[0]
    assert "| Algorithm 1, paper (62,964 MP structures, DFT) | 0.056 | 0.019 | 0.120 |" in section
    assert "2 metals, 3 non-metals" in section


def test_primary_model_gets_its_own_row_without_paper_numbers():
    metrics = dict(METRICS, primary=_m(dos_wd_bins=0.5, epdos_wd_bins=1.5, gap_ext_mae_ev=0.7))
    cells = _row(table2(metrics), "2-task", "primary (params.yaml `model`)")
    assert cells[0::2] == ["0.500", "1.500", "–", "–", "0.700"] and cells[1::2] == ["–"] * 5
    assert _row(table2(metrics), "4-task", "DOSForge")[0] == "**1.000**"  # the primary row is not ranked


BASELINES = {
    "baseline_mean": _m(dos_wd_bins=2.0, epdos_wd_bins=4.0, fermi_mae_ev=0.4, gap_mae_ev=0.5, gap_ext_mae_ev=0.6),
    "baseline_composition_nn": _m(
        dos_wd_bins=1.6, epdos_wd_bins=5.0, fermi_mae_ev=0.25, gap_mae_ev=0.05, gap_ext_mae_ev=0.3
    ),
}
SPREAD_3 = {  # three runs of the primary model
    "n_runs": 3,
    "dos.wd_bins": {"mean": 1.05, "std": 0.08, "n": 3},
    "epdos.wd_bins": {"mean": 2.0, "std": 0.3, "n": 3},
    "fermi.mae_ev": {"mean": 0.2, "std": 0.01, "n": 3},
    "gap.mae_ev": {"mean": 0.1, "std": 0.2, "n": 3},
    "gap.ext_mae_ev": {"mean": 0.1, "std": 0.2, "n": 3},
}


def _cells_of(text, first_cell):
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == first_cell:
            return cells[1:]
    raise AssertionError(f"no row {first_cell} in\n{text}")


def test_baselines_are_labelled_rows_of_every_table():
    report = build_report(
        METRICS, None, {"source": "mp"}, list(CONTRACT_KEYS), baselines=BASELINES,
        baseline_notes={"baseline_mean": "training mean", "baseline_composition_nn": "1 nearest, L1"},
    )  # fmt: skip
    assert _row(table2(METRICS, BASELINES), "baseline", "baseline_composition_nn (baseline)")[0::2] == [
        "1.600", "5.000", "0.250", "0.050", "0.300"
    ]  # fmt: skip
    assert _row(table2(METRICS, BASELINES), "4-task", "DOSForge")[0] == "**1.000**"  # baselines are not ranked
    table1 = report.split("## DOS prediction")[1].split("##")[0]
    assert _cells_of(table1, "baseline_mean (baseline)")[3] == "2.000"
    every = report.split("## Every metric of every model")[1]
    header = every.splitlines()[2]
    assert "baseline_mean (baseline)" in header and "baseline_composition_nn (baseline)" in header
    floor = report.split("## Baselines: the floor")[1].split("##")[0]
    assert "floor every model must clear" in floor and "`baseline_composition_nn`: 1 nearest, L1" in floor


def test_ratio_to_the_best_baseline_per_target_marks_what_does_not_beat_it():
    report = build_report(METRICS, None, {"source": "mp"}, list(CONTRACT_KEYS), baselines=BASELINES)
    section = report.split("## Models against the best baseline")[1].split("##")[0]
    assert _cells_of(section, "best baseline (value)")[:5] == [
        "1.600 (baseline_composition_nn)", "4.000 (baseline_mean)", "0.250 (baseline_composition_nn)",
        "0.050 (baseline_composition_nn)", "0.300 (baseline_composition_nn)",
    ]  # fmt: skip
    # dosforge: 1.0/1.6, 2.0/4.0, 0.2/0.25, 0.1/0.05 (worse), 0.1/0.3
    assert _cells_of(section, "dosforge") == ["0.625", "0.500", "0.800", "2.000 ✗", "0.333", "4/5"]
    assert _cells_of(section, "single_fermi") == ["–", "–", "1.200 ✗", "–", "–", "0/1"]  # 0.3 / 0.25
    assert _cells_of(section, "cross2")[:2] == ["0.781", "0.625"]
    equal = dict(METRICS, tie=_m(dos_wd_bins=1.6))  # equal to the floor does not beat it
    text = build_report(equal, None, {"source": "mp"}, list(CONTRACT_KEYS), baselines=BASELINES)
    assert _cells_of(text.split("## Models against the best baseline")[1], "tie")[0] == "1.000 ✗"


def test_table2_marks_differences_to_dosforge_beyond_two_sigma_of_a_difference():
    text = table2(METRICS, seed_spread=SPREAD_3)
    # cross2 vs dosforge: DOS 1.25 - 1.0 = 0.25 > 2.83 x 0.08 (marked); EPDOS 2.5 - 2.0 = 0.5 <= 2.83 x 0.3 (not)
    assert _row(text, "2-task", "Cross-cond.")[0::2][:2] == ["1.250§", "2.500"]
    # Single: DOS 1.5 (marked), EPDOS 2.25 (not), E_F 0.3 vs 0.2 > 0.028 (marked), E_g 0.4 vs 0.1 < 0.57 (not)
    assert _row(text, "1-task", "Single")[0::2] == ["1.500§", "2.250", "0.300§", "0.400", "0.900§"]
    assert "§" not in "".join(_row(text, "4-task", "DOSForge"))  # the reference row itself
    report = build_report(METRICS, None, {"source": "mp"}, list(CONTRACT_KEYS), seed_spread=SPREAD_3)
    assert "exceeds 2√2 ≈ 2.83 × the seed-to-seed standard deviation" in report and "No noise estimate" not in report


def test_with_fewer_than_three_runs_nothing_is_marked_and_the_report_says_why():
    two = dict(SPREAD_3, n_runs=2, **{"dos.wd_bins": {"mean": 1.05, "std": 0.1, "n": 2}})
    for spread in (two, None, {"n_runs": 1, "dos.wd_bins": {"mean": 1.0, "std": None, "n": 1}}):
        assert "§" not in table2(METRICS, seed_spread=spread)
        report = build_report(METRICS, None, {"source": "mp"}, list(CONTRACT_KEYS), seed_spread=spread)
        assert "No noise estimate" in report


def test_seed_mean_and_std_row_in_the_tables():
    metrics = dict(METRICS, primary=_m(dos_wd_bins=1.1, epdos_wd_bins=2.2, fermi_mae_ev=0.2, gap_mae_ev=0.1))
    runs = {"primary (seed 42)": metrics["primary"], "seed 43": metrics["primary"], "seed 44": metrics["primary"]}
    report = build_report(
        metrics, None, {"source": "mp"}, list(CONTRACT_KEYS), seed_spread=SPREAD_3, seed_runs=runs,
        baselines=BASELINES,
    )  # fmt: skip
    cells = _row(table2(metrics, seed_spread=SPREAD_3), "4-task", "primary, 3 seeds: mean ± std")
    assert cells[0::2] == ["1.050 ± 0.080", "2.000 ± 0.300", "0.200 ± 0.010", "0.100 ± 0.200", "0.100 ± 0.200"]
    table1 = report.split("## DOS prediction")[1].split("##")[0]
    assert _cells_of(table1, "primary, 3 seeds: mean ± std (ours)")[3] == "1.050 ± 0.080"
    assert "primary, 3 seeds: mean ± std" in report.split("## Every metric of every model")[1].splitlines()[2]
    floor = report.split("## Models against the best baseline")[1].split("##")[0]
    assert _cells_of(floor, "primary, 3 seeds: mean")[0] == "0.656"  # 1.05 / 1.6
    seeds = report.split("## Seed spread of the primary model")[1].split("##")[0]
    assert "| seed 44 | 1.100 |" in seeds and "mean ± std (n = 3)" in seeds
    assert "seeds: mean" not in table2(metrics)  # no spread, no row


def test_physical_consistency_table():
    metrics = {
        "dosforge": dict(
            _m(dos_wd_bins=1.0, epdos_wd_bins=2.0),
            **{"consistency.sum_rule": 0.125, "consistency.sum_rule_true": 0.01, "consistency.gap_vs_ext_mae_ev": 0.5},
        ),
        "single_fermi": dict(_m(fermi_mae_ev=0.3), **{"consistency.sum_rule_true": 0.01}),
    }
    report = build_report(metrics, None, {"source": "mp"}, list(CONTRACT_KEYS))
    section = report.split("## Physical consistency")[1].split("##")[0]
    assert _cells_of(section, "dosforge") == ["0.125", "0.010", "0.500"]
    assert _cells_of(section, "single_fermi") == ["–", "0.010", "–"]
    assert "all-zero DOS" in section
