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
