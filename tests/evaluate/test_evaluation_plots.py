"""Figures: appendix C percentile panels, parity plots, learning curves (rendered small and few, to stay fast)."""

import numpy as np
import pytest

from dosforge.evaluate.history import history_rows, load_history, write_curve_csv
from dosforge.evaluate.plots import (
    panel_selection,
    plot_learning_curves,
    plot_parity,
    plot_percentile_panels,
    select_by_percentile,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_percentile_selection_picks_best_median_and_worst():
    scores = np.array([5.0, 1.0, 9.0, 3.0, 7.0])  # sorted: 1(1) 3(3) 5(0) 7(4) 9(2)
    assert select_by_percentile(scores, [0, 50, 100]) == [1, 0, 2]
    assert select_by_percentile(scores, [25, 75]) == [3, 4]


def test_a_small_test_set_shows_each_material_once_with_its_percentile_range():
    scores = np.array([2.0, 1.0, 3.0])
    assert panel_selection(scores, range(0, 100, 5)) == [
        (1, [0, 5, 10, 15, 20]),
        (0, [25, 30, 35, 40, 45, 50, 55, 60, 65, 70]),
        (2, [75, 80, 85, 90, 95]),
    ]


def test_panels_written_for_a_spectral_model(tmp_path, grid, full_predictions):
    path = plot_percentile_panels(full_predictions, grid, tmp_path / "p.png", percentiles=(0, 50, 95), ncols=3, dpi=40)
    assert path.read_bytes()[:8] == PNG


def test_panels_skipped_for_a_scalar_only_model(tmp_path, grid, predictions_factory):
    pred = predictions_factory(("fermi",), n=4)
    assert plot_percentile_panels(pred, grid, tmp_path / "p.png", percentiles=(0,)) is None
    assert not (tmp_path / "p.png").exists()
    assert plot_parity(pred, grid, tmp_path / "parity.png", dpi=40).read_bytes()[:8] == PNG


def test_learning_curves_from_nested_history(tmp_path, history_factory):
    rows = history_rows(history_factory(3))
    assert rows[0] == {"epoch": 0, "train_loss": 2.0, "val_loss": 2.5, "lr": pytest.approx(1e-3 / 3)}
    csv = write_curve_csv(rows, tmp_path / "lc.csv").read_text().splitlines()
    assert csv[0] == "epoch,train_loss,val_loss,lr" and len(csv) == 4
    assert plot_learning_curves(rows, tmp_path / "lc.png", dpi=40).read_bytes()[:8] == PNG


def test_history_as_dict_of_lists_gets_one_based_epochs():
    rows = history_rows({"train_loss": [3.0, 2.0], "val_loss": [4.0, 3.5], "note": "x"})
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["val_loss"] == 3.5


def test_bad_history_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="equal-length"):
        history_rows({"train_loss": [1.0, 2.0], "val_loss": [1.0]})
    with pytest.raises(FileNotFoundError, match="train/ablate stage"):
        load_history(tmp_path / "history.json")
