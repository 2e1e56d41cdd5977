"""Model selection as appendix B: 2-task by validation WD sum, 4-task by the raw loss sum, 1-task by its loss."""

import numpy as np
import pytest

from dosforge.train.loop import selection_rule, selection_score, validation_wd


@pytest.mark.parametrize(
    ("tasks", "rule"),
    [
        (["dos", "epdos"], "wd_sum"),
        (["epdos", "dos"], "wd_sum"),
        (["dos", "epdos", "fermi", "gap"], "loss_sum"),
        (["dos"], "loss:dos"),
        (["gap"], "loss:gap"),
        (["dos", "fermi"], "loss_sum"),
    ],
)
def test_rule_per_task_set(tasks, rule):
    assert selection_rule(tasks) == rule


def test_scores_use_the_right_quantities():
    losses = {"total": 9.0, "dos": 1.0, "epdos": 2.0, "fermi": 0.5, "gap": 4.0, "dos_mid": 7.0}
    wd = {"wd_dos": 3.0, "wd_epdos": 5.0}
    assert selection_score(["dos", "epdos"], losses, wd) == 8.0  # WD, not losses
    assert selection_score(["dos", "epdos", "fermi", "gap"], losses, wd) == 7.5  # unweighted, no mid, not total
    assert selection_score(["fermi"], losses, wd) == 0.5


def test_spectral_tasks_are_selected_on_their_mae_term_when_reported():
    losses = {"dos": 1.0, "dos_mae": 0.25, "epdos": 2.0, "epdos_mae": 0.5, "fermi": 0.5, "gap": 4.0}
    assert selection_score(["dos", "epdos", "fermi", "gap"], losses, {}) == 5.25  # 0.25 + 0.5 + 0.5 + 4.0
    assert selection_score(["dos"], losses, {}) == 0.25
    assert selection_score(["gap"], losses, {}) == 4.0


def test_validation_wd_in_bins_on_original_units():
    class P:  # the Predictions fields validation_wd reads
        dos_true = np.zeros((2, 8))
        epdos_true = np.zeros((3, 8))

        def __len__(self):
            return 2

    p = P()
    p.dos_true[:, 2] = 1.0
    p.dos_pred = np.roll(p.dos_true, 3, axis=-1)  # every mass moved by 3 bins
    p.epdos_true[:, 4] = 2.0
    p.epdos_pred = p.epdos_true.copy()
    wd = validation_wd(p)
    assert wd["wd_dos"] == pytest.approx(3.0) and wd["wd_epdos"] == pytest.approx(0.0)
