"""The metric functions of the metric contract, against hand-computed cases."""

import json
import math

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from dosforge.grid import EnergyGrid
from dosforge.metrics import (
    CONSISTENCY_KEYS,
    CONTRACT_KEYS,
    METRIC_KEYS,
    compute_metrics,
    ext_gap,
    json_ready,
    per_material_wd,
    r2_per_spectrum,
    sum_rule_residual,
    wasserstein_bins,
    wasserstein_ev,
)
from dosforge.predictions import Predictions

GRID = EnergyGrid()
T = GRID.bins


def peak(center: float, width: float = 3.0, height: float = 1.0) -> np.ndarray:
    i = np.arange(T)
    return height * np.exp(-0.5 * ((i - center) / width) ** 2)


def predictions(dos_pred, dos_true, *, epdos=None, fermi=None, gap=None, gap_true=None) -> Predictions:
    n = len(dos_true)
    nan = np.full(n, np.nan)
    ep_pred, ep_true = epdos if epdos is not None else (np.full((n, T), np.nan), np.zeros((n, T)))
    gap_true = np.zeros(n) if gap_true is None else np.asarray(gap_true, float)
    return Predictions(
        ids=[f"m-{i}" for i in range(n)],
        formula=["Si"] * n,
        dos_pred=np.asarray(dos_pred, float),
        dos_true=np.asarray(dos_true, float),
        epdos_pred=np.asarray(ep_pred, float),
        epdos_true=np.asarray(ep_true, float),
        epdos_ptr=np.arange(n + 1, dtype=np.int64) * (len(ep_true) // n),
        epdos_z=np.full(len(ep_true), 14, np.int64),
        fermi_pred=nan if fermi is None else np.asarray(fermi[0], float),
        fermi_true=np.zeros(n) if fermi is None else np.asarray(fermi[1], float),
        gap_pred=nan if gap is None else np.asarray(gap, float),
        gap_true=gap_true,
        is_metal=gap_true == 0,
    )


@pytest.mark.parametrize("shift", [1, 7, 40])
def test_wd_of_a_spectrum_and_its_shifted_copy_is_the_shift(shift):
    p = peak(80.0) + 0.5 * peak(110.0, 6.0)
    q = np.roll(p, shift)  # the tails are ~0 at both window ends, so nothing wraps around
    assert wasserstein_bins(q, p) == pytest.approx(shift, abs=1e-6)
    assert wasserstein_ev(q, p, GRID.de) == pytest.approx(shift * 20 / 256, abs=1e-6)


def test_wd_matches_scipy_on_unequal_shapes_and_is_scale_invariant():
    rng = np.random.default_rng(3)
    p, q = rng.random(T) ** 4, peak(30.0, 9.0) + rng.random(T) * 0.1
    ref = wasserstein_distance(np.arange(T), np.arange(T), p, q)
    assert wasserstein_bins(p, q) == pytest.approx(ref, rel=1e-9)
    assert wasserstein_bins(7.5 * p, 0.01 * q) == pytest.approx(ref, rel=1e-9)  # unit-sum normalisation
    assert wasserstein_bins(q, q) == 0.0


def test_negative_predictions_are_clipped_before_normalising():
    q = peak(100.0)
    p = peak(120.0)
    noisy = p - 0.3 * peak(20.0)  # negative lobe far away must not count as mass
    assert wasserstein_bins(noisy, q) == pytest.approx(wasserstein_bins(p, q))


def test_all_zero_prediction_is_scored_as_uniform():
    delta = np.zeros(T)
    delta[0] = 1.0
    # uniform vs a delta at bin 0: the mean distance of the bins from bin 0 = (T - 1) / 2
    assert wasserstein_bins(np.zeros(T), delta) == pytest.approx((T - 1) / 2)
    assert wasserstein_bins(-np.ones(T), delta) == pytest.approx((T - 1) / 2)  # all-negative clips to zero
    assert wasserstein_bins(np.zeros(T), np.ones(T)) == pytest.approx(0.0)
    m = compute_metrics(predictions([np.zeros(T)], [peak(128.0)]), GRID)
    assert m["dos.n_zero_pred"] == 1 and m["dos.wd_bins"] > 10


def test_r2_is_per_material_then_averaged():
    a, b = peak(60.0, 5.0, 4.0), peak(180.0, 20.0, 1.0) + 0.2
    pred = np.stack([a, np.full(T, b.mean())])  # material 0 perfect (R2 = 1), material 1 its own mean (R2 = 0)
    m = compute_metrics(predictions(pred, np.stack([a, b])), GRID)
    assert m["dos.r2"] == pytest.approx(0.5)
    pooled = 1 - ((pred - [a, b]) ** 2).sum() / ((np.stack([a, b]) - np.stack([a, b]).mean()) ** 2).sum()
    assert abs(pooled - 0.5) > 0.05  # the convention matters: pooling over all bins gives another number


def test_r2_of_a_constant_truth_is_undefined_and_excluded():
    a = peak(60.0)
    r2 = r2_per_spectrum(np.stack([a, a]), np.stack([a, np.full(T, 2.0)]))
    assert r2[0] == 1.0 and math.isnan(r2[1])
    m = compute_metrics(predictions(np.stack([a, a]), np.stack([a, np.full(T, 2.0)])), GRID)
    assert m["dos.r2"] == 1.0 and m["dos.r2_n_undefined"] == 1


def gapped(below: int, above: int, level: float = 1.0) -> np.ndarray:
    """A DOS with no states in the `below` bins under E_F and the `above` bins over it."""
    d = np.full(T, level)
    d[T // 2 - below : T // 2 + above] = 0.0
    return d


def test_ext_gap_on_constructed_edges():
    dos = np.stack([gapped(3, 5), gapped(0, 0), gapped(10, 0), gapped(4, 4)])
    dos[3, T // 2 : T // 2 + 4] = 0.019  # sub-threshold states inside the gap do not close it
    got = ext_gap(dos, GRID)
    np.testing.assert_allclose(got, np.array([8, 0, 10, 8]) * GRID.de)
    dos[3, T // 2 + 1] = 0.021  # one bin above 0.02 states/eV moves the right edge to E_F + 1 bin
    assert ext_gap(dos[3], GRID) == pytest.approx(5 * GRID.de)


def test_compute_metrics_every_key_and_hand_computed_values():
    true = np.stack([gapped(3, 5), gapped(0, 0, 2.0)])
    pred = true + 0.5  # every bin off by 0.5 states/eV; a DOS with no gap at all
    ep_true = np.stack([peak(100.0), peak(150.0), peak(60.0), peak(90.0)])
    ep_pred = np.stack([np.roll(ep_true[0], 2), np.roll(ep_true[1], 4), ep_true[2], np.roll(ep_true[3], 6)])
    p = predictions(
        pred,
        true,
        epdos=(ep_pred, ep_true),
        fermi=([1.0, 2.5], [1.5, 2.0]),
        gap=[0.5, 0.1],
        gap_true=[8 * GRID.de, 0.0],
    )
    m = compute_metrics(p, GRID)
    assert list(m)[: len(CONTRACT_KEYS)] == list(CONTRACT_KEYS)
    assert m["n_test"] == 2
    assert m["dos.mae"] == pytest.approx(0.5) and m["dos.mse"] == pytest.approx(0.25)
    assert m["epdos.wd_bins"] == pytest.approx((2 + 4 + 0 + 6) / 4, abs=1e-6)  # averaged over (material, element)
    assert m["epdos.wd_ev"] == pytest.approx(3 * GRID.de, abs=1e-6)
    assert m["epdos.n_pairs"] == 4
    assert m["fermi.mae_ev"] == pytest.approx(0.5)
    assert m["gap.mae_ev"] == pytest.approx((abs(0.5 - 8 * GRID.de) + 0.1) / 2)
    assert m["gap.ext_mae_ev"] == pytest.approx(8 * GRID.de / 2)  # predicted DOS has no gap anywhere
    wd = per_material_wd(p)
    np.testing.assert_allclose(wd["epdos"], [3.0, 3.0], atol=1e-6)


def test_missing_tasks_are_nan_and_written_as_json_null():
    a = peak(100.0)
    p = predictions(np.full((1, T), np.nan), [a], fermi=([0.3], [0.1]))  # a Fermi-only model
    m = compute_metrics(p, GRID)
    assert m["fermi.mae_ev"] == pytest.approx(0.2)
    for key in CONTRACT_KEYS:
        if key not in ("fermi.mae_ev", "n_test"):
            assert math.isnan(m[key]), key
    text = json.dumps(json_ready(m), allow_nan=False)  # strict JSON: null, never NaN
    assert json.loads(text)["dos.wd_bins"] is None


def test_partly_missing_predictions_are_an_error_naming_the_material():
    pred = np.stack([peak(100.0), peak(100.0)])
    pred[1, 5] = np.nan
    with pytest.raises(ValueError, match="m-1"):
        compute_metrics(predictions(pred, np.stack([peak(100.0), peak(90.0)])), GRID)


def test_wrong_grid_is_an_error():
    with pytest.raises(ValueError, match="grid.bins"):
        compute_metrics(predictions([peak(10.0)], [peak(10.0)]), EnergyGrid(bins=128))


def test_a_diverged_model_is_not_mistaken_for_one_without_the_task():
    p = predictions(np.full((1, T), np.nan), [peak(100.0)], fermi=([0.3], [0.1]))
    assert math.isnan(compute_metrics(p, GRID, tasks=["fermi"])["dos.wd_bins"])
    with pytest.raises(ValueError, match="dos: all NaN"):
        compute_metrics(p, GRID, tasks=["dos", "fermi"])


def _two_materials(dos, epdos_rows, dos_true=None, epdos_true=None, gap=None):
    """Two materials with two element rows each (material 0: rows 0-1, material 1: rows 2-3)."""
    dos = np.asarray(dos, float)
    epdos_rows = np.asarray(epdos_rows, float)
    return predictions(
        dos,
        dos if dos_true is None else dos_true,
        epdos=(epdos_rows, epdos_rows if epdos_true is None else epdos_true),
        gap=gap,
        gap_true=[0.0, 0.0],
    )


def test_sum_rule_of_element_rows_summing_to_half_the_dos_is_one_half():
    dos = np.stack([peak(100.0, 5.0, 2.0), peak(150.0, 8.0, 1.0) + 0.1])
    rows = np.stack([0.3 * dos[0], 0.2 * dos[0], 0.25 * dos[1], 0.25 * dos[1]])  # each material: 0.5 x its DOS
    residual = sum_rule_residual(dos, rows, np.array([0, 2, 4]))
    np.testing.assert_allclose(residual, [0.5, 0.5])
    exact = np.stack([0.6 * dos[0], 0.4 * dos[0], 0.5 * dos[1], 0.5 * dos[1]])  # the truth: rows sum to the DOS
    m = compute_metrics(_two_materials(dos, rows, epdos_true=exact), GRID)
    assert m["consistency.sum_rule"] == pytest.approx(0.5)
    assert m["consistency.sum_rule_true"] == pytest.approx(0.0, abs=1e-12)


def test_sum_rule_is_a_mean_over_materials_of_relative_l1_residuals():
    dos = np.stack([np.ones(T), 2 * np.ones(T)])
    rows = np.stack([np.ones(T), np.ones(T), np.zeros(T), np.ones(T)])  # material 0: 2x (residual 1), 1: 0.5x
    m = compute_metrics(_two_materials(dos, rows), GRID)
    assert m["consistency.sum_rule"] == pytest.approx((1.0 + 0.5) / 2)
    assert m["consistency.sum_rule_true"] == pytest.approx((1.0 + 0.5) / 2)  # here the truth is the same arrays


def test_sum_rule_sets_negative_values_to_zero_first():
    dos = np.stack([peak(100.0), peak(100.0)])
    rows = np.stack([dos[0], -5 * peak(30.0), dos[1], np.zeros(T)])  # a negative lobe is not a state
    np.testing.assert_allclose(sum_rule_residual(dos, rows, np.array([0, 2, 4])), [0.0, 0.0], atol=1e-12)
    negative_dos = np.stack([dos[0] - 3 * peak(200.0), dos[1]])
    np.testing.assert_allclose(sum_rule_residual(negative_dos, rows, np.array([0, 2, 4])), [0.0, 0.0], atol=1e-12)


def test_sum_rule_of_an_all_zero_dos_is_zero_when_the_elements_are_empty_too_and_one_otherwise():
    dos = np.zeros((2, T))
    rows = np.stack([np.zeros(T), -np.ones(T), peak(90.0), np.zeros(T)])
    np.testing.assert_allclose(sum_rule_residual(dos, rows, np.array([0, 2, 4])), [0.0, 1.0])
    m = compute_metrics(_two_materials(dos, rows, dos_true=np.ones((2, T))), GRID)
    assert m["consistency.sum_rule"] == pytest.approx(0.5) and m["consistency.sum_rule_n_zero_dos"] == 2


def test_sum_rule_handles_a_material_without_element_rows():
    dos = np.stack([np.ones(T), np.ones(T)])
    rows = np.stack([np.ones(T)])
    np.testing.assert_allclose(sum_rule_residual(dos, rows, np.array([0, 0, 1])), [1.0, 0.0])


def test_gap_head_against_ext_gap_of_the_same_predicted_dos():
    dos = np.stack([gapped(3, 5), gapped(0, 0)])  # E_g^ext = 8 bins and 0
    rows = np.stack([dos[0], np.zeros(T), dos[1], np.zeros(T)])
    m = compute_metrics(_two_materials(dos, rows, gap=[8 * GRID.de + 0.2, 0.1]), GRID)
    assert m["consistency.gap_vs_ext_mae_ev"] == pytest.approx((0.2 + 0.1) / 2)
    assert math.isnan(compute_metrics(_two_materials(dos, rows), GRID)["consistency.gap_vs_ext_mae_ev"])


def test_consistency_keys_are_written_after_the_contract_and_null_without_both_spectra():
    a = peak(100.0)
    m = compute_metrics(predictions([a], [a]), GRID)  # DOS only (the helper's EPDOS prediction is all NaN)
    assert list(m)[len(CONTRACT_KEYS) : len(CONTRACT_KEYS) + len(CONSISTENCY_KEYS)] == list(CONSISTENCY_KEYS)
    assert list(m) == list(METRIC_KEYS)
    assert math.isnan(m["consistency.sum_rule"]) and math.isnan(m["consistency.gap_vs_ext_mae_ev"])
    assert m["consistency.sum_rule_true"] == pytest.approx(1.0)  # the helper's true EPDOS is all zero
    assert json_ready(m)["consistency.sum_rule"] is None
