"""The baselines on a constructed data set where every answer is known by hand."""

from types import SimpleNamespace

import numpy as np
import pytest

from dosforge.config import ConfigError
from dosforge.evaluate.baselines import (
    BaselineConfig,
    composition_nn_baseline,
    element_fractions,
    mean_baseline,
    nearest,
    run_baselines,
    split_rows,
)
from dosforge.grid import EnergyGrid
from dosforge.metrics import TASKS, compute_metrics

T = EnergyGrid().bins
SI, NA, CL, O, FE = 14, 11, 17, 8, 26


def _peak(center, height=1.0):
    return height * np.exp(-0.5 * ((np.arange(T) - center) / 4.0) ** 2)


# id, sites (Z per site), EPDOS rows by Z, E_F, E_g. DOS = sum of the EPDOS rows (the sum rule holds exactly).
MATERIALS = [
    ("tr-si", [SI, SI], {SI: _peak(40, 2.0)}, 5.0, 1.0),
    ("tr-nacl", [NA, CL], {NA: _peak(80), CL: _peak(120)}, 3.0, 4.0),
    ("tr-na2o", [NA, NA, O], {O: _peak(60, 0.5), NA: _peak(100, 3.0)}, 1.0, 0.0),
    ("te-si", [SI], {SI: _peak(45)}, 6.0, 1.2),  # the same composition as tr-si
    ("te-na3cl2", [NA, NA, NA, CL, CL], {NA: _peak(85), CL: _peak(125)}, 2.5, 3.5),  # nearest: tr-nacl
    ("te-feo", [FE, O], {O: _peak(70), FE: _peak(150)}, 4.0, 0.5),  # Fe never in training; nearest: tr-na2o
    ("te-sicl", [SI, CL], {SI: _peak(30), CL: _peak(110)}, 2.0, 2.0),  # tr-si and tr-nacl tie (L1 = 1)
]
TRAIN = ["tr-si", "tr-nacl", "tr-na2o"]
TEST = ["te-si", "te-na3cl2", "te-feo", "te-sicl"]


def make_data(materials=MATERIALS):
    """The fields of `dosforge.shards.ProcessedData` the baselines read (EPDOS rows sorted by Z, as preprocess does)."""
    epdos, epdos_z, epdos_ptr, atoms, atom_ptr = [], [], [0], [], [0]
    for _, sites, rows, _, _ in materials:
        for z in sorted(rows):
            epdos.append(rows[z])
            epdos_z.append(z)
        epdos_ptr.append(len(epdos))
        atoms += sites
        atom_ptr.append(len(atoms))
    return SimpleNamespace(
        ids=[m[0] for m in materials],
        formula=[m[0].split("-")[1] for m in materials],
        dos=np.stack([sum(m[2].values()) for m in materials]),
        epdos=np.stack(epdos),
        epdos_z=np.array(epdos_z, np.int64),
        epdos_ptr=np.array(epdos_ptr, np.int64),
        efermi=np.array([m[3] for m in materials]),
        gap=np.array([m[4] for m in materials]),
        is_metal=np.array([m[4] == 0 for m in materials]),
        atomic_numbers=np.array(atoms, np.int64),
        atom_ptr=np.array(atom_ptr, np.int64),
    )


DATA = make_data()
BY_ID = {m[0]: m for m in MATERIALS}


def _rows(ids):
    return np.array([DATA.ids.index(i) for i in ids], np.int64)


def _epdos(pred, material: int, z: int) -> np.ndarray:
    lo, hi = pred.epdos_ptr[material], pred.epdos_ptr[material + 1]
    (row,) = np.flatnonzero(pred.epdos_z[lo:hi] == z)
    return pred.epdos_pred[lo + row]


def test_element_fractions_are_fractions_of_sites():
    columns = np.array([O, NA, SI, CL, FE])
    columns.sort()
    f = element_fractions(DATA, _rows(["tr-na2o", "te-na3cl2"]), columns)
    expected = {O: 1 / 3, NA: 2 / 3}, {NA: 0.6, CL: 0.4}
    for got, want in zip(f, expected, strict=True):
        np.testing.assert_allclose(got, [want.get(z, 0.0) for z in columns])


def test_mean_baseline_is_the_exact_training_mean_with_per_element_epdos():
    b = mean_baseline(DATA, _rows(TRAIN), _rows(TEST))
    p = b.predictions
    assert p.ids == TEST
    train_dos = np.stack([sum(BY_ID[i][2].values()) for i in TRAIN])
    for i in range(len(TEST)):
        np.testing.assert_allclose(p.dos_pred[i], train_dos.mean(0))
    np.testing.assert_allclose(p.fermi_pred, np.full(4, (5.0 + 3.0 + 1.0) / 3))
    np.testing.assert_allclose(p.gap_pred, np.full(4, (1.0 + 4.0 + 0.0) / 3))
    # Na: the mean of its two training rows; Cl: its one training row
    np.testing.assert_allclose(_epdos(p, 1, NA), (_peak(80) + _peak(100, 3.0)) / 2)
    np.testing.assert_allclose(_epdos(p, 1, CL), _peak(120))
    # Fe never occurs in training: the mean over all five training EPDOS rows, counted
    pooled = (_peak(40, 2.0) + _peak(80) + _peak(120) + _peak(60, 0.5) + _peak(100, 3.0)) / 5
    np.testing.assert_allclose(_epdos(p, 2, FE), pooled)
    assert b.info == {"baseline.n_train": 3, "baseline.epdos_unseen_pairs": 1}
    assert "1 of 7 (material, element) pairs" in b.description


def test_mean_baseline_carries_the_test_truth():
    p = mean_baseline(DATA, _rows(TRAIN), _rows(TEST)).predictions
    np.testing.assert_allclose(p.dos_true[2], _peak(70) + _peak(150))
    np.testing.assert_allclose(p.gap_true, [1.2, 3.5, 0.5, 2.0])
    np.testing.assert_allclose(p.fermi_true, [6.0, 2.5, 4.0, 2.0])
    assert list(p.epdos_z) == [SI, NA, CL, O, FE, SI, CL] and list(p.epdos_ptr) == [0, 1, 3, 5, 7]
    np.testing.assert_allclose(p.epdos_true[4], _peak(150))
    assert list(p.is_metal) == [False, False, False, False]


def test_composition_nn_returns_the_exact_neighbour():
    b = composition_nn_baseline(DATA, _rows(TRAIN), _rows(TEST), k=1, metric="l1")
    p = b.predictions
    # te-si -> tr-si (distance 0), te-na3cl2 -> tr-nacl, te-feo -> tr-na2o, te-sicl -> tr-si (tie, earlier id)
    for i, neighbour in enumerate(["tr-si", "tr-nacl", "tr-na2o", "tr-si"]):
        np.testing.assert_array_equal(p.dos_pred[i], sum(BY_ID[neighbour][2].values()))
        assert p.fermi_pred[i] == BY_ID[neighbour][3] and p.gap_pred[i] == BY_ID[neighbour][4]
    np.testing.assert_array_equal(_epdos(p, 0, SI), _peak(40, 2.0))
    np.testing.assert_array_equal(_epdos(p, 1, NA), _peak(80))
    np.testing.assert_array_equal(_epdos(p, 1, CL), _peak(120))
    np.testing.assert_array_equal(_epdos(p, 2, O), _peak(60, 0.5))  # the neighbour's O row
    # te-feo's Fe: no neighbour has it and training never saw it -> the mean of all training rows
    pooled = (_peak(40, 2.0) + _peak(80) + _peak(120) + _peak(60, 0.5) + _peak(100, 3.0)) / 5
    np.testing.assert_allclose(_epdos(p, 2, FE), pooled)
    # te-sicl's Cl: its neighbour tr-si has no Cl -> Cl's training mean (tr-nacl's row), not the pooled mean
    np.testing.assert_allclose(_epdos(p, 3, CL), _peak(120))
    assert b.info == {
        "baseline.n_train": 3,
        "baseline.k": 1,
        "baseline.epdos_fallback_pairs": 2,
        "baseline.epdos_unseen_pairs": 1,
        "baseline.n_exact_composition": 1,
    }


def test_composition_nn_ties_go_to_the_earlier_training_id():
    reordered = _rows(["tr-nacl", "tr-si", "tr-na2o"])  # split.json's training order decides the tie
    p = composition_nn_baseline(DATA, reordered, _rows(["te-sicl"]), k=1).predictions
    np.testing.assert_array_equal(p.dos_pred[0], _peak(80) + _peak(120))
    np.testing.assert_array_equal(_epdos(p, 0, CL), _peak(120))
    np.testing.assert_array_equal(_epdos(p, 0, SI), _peak(40, 2.0))  # tr-nacl has no Si: Si's training mean


def test_composition_nn_with_k_2_averages_the_neighbours_that_have_the_element():
    b = composition_nn_baseline(DATA, _rows(TRAIN), _rows(["te-si", "te-sicl"]), k=2)
    p = b.predictions
    # te-si: tr-si (0), then tr-nacl and tr-na2o tie at 2 -> tr-nacl
    np.testing.assert_allclose(p.dos_pred[0], (_peak(40, 2.0) + _peak(80) + _peak(120)) / 2)
    np.testing.assert_allclose(p.fermi_pred[0], (5.0 + 3.0) / 2)
    np.testing.assert_allclose(_epdos(p, 0, SI), _peak(40, 2.0))  # only one of the two neighbours has Si
    np.testing.assert_allclose(_epdos(p, 1, CL), _peak(120))
    assert b.info["baseline.k"] == 2 and b.info["baseline.epdos_fallback_pairs"] == 0


def test_nearest_l1_and_l2_choose_differently_where_they_should():
    # query a:b = 1:1; P spreads its mismatch over many elements, Q concentrates it in one
    query = np.array([[0.5, 0.5, 0, 0, 0, 0, 0]])
    p_vec = [0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0]  # L1 0.8, L2 0.447
    q_vec = [0.15, 0.5, 0, 0, 0, 0, 0.35]  # L1 0.7, L2 0.495
    reference = np.array([p_vec, q_vec])
    assert nearest(query, reference, 1, "l1")[0][0, 0] == 1
    assert nearest(query, reference, 1, "l2")[0][0, 0] == 0
    idx, dist = nearest(query, reference, 2, "l1")
    assert list(idx[0]) == [1, 0] and dist[0] == pytest.approx([0.7, 0.8])


def test_nearest_breaks_ties_by_reference_order_across_blocks(monkeypatch):
    import dosforge.evaluate.baselines as baselines

    monkeypatch.setattr(baselines, "_BLOCK", 3)  # one query row per block: the block loop is exercised
    reference = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    query = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    idx, _ = nearest(query, reference, 2, "l1")
    assert idx.tolist() == [[1, 2], [0, 3], [0, 1]]


def test_k_larger_than_the_training_split_is_a_clear_error():
    with pytest.raises(ConfigError, match="exceeds the 3 training materials"):
        composition_nn_baseline(DATA, _rows(TRAIN), _rows(TEST), k=4)


def test_baselines_are_scored_by_the_models_metric_code():
    split = {"train": TRAIN, "val": [], "test": TEST}
    result = run_baselines(DATA, split, BaselineConfig(k=1, metric="l1"))
    assert list(result) == ["mean", "composition_nn"]
    m = compute_metrics(result["composition_nn"].predictions, EnergyGrid(), TASKS)
    assert m["fermi.mae_ev"] == pytest.approx((1.0 + 0.5 + 3.0 + 3.0) / 4)
    # Sum rule: copied spectra keep it (te-si, te-na3cl2); te-feo: O copied + Fe pooled against tr-na2o's O + Na;
    # te-sicl: tr-si's DOS (Si peak of height 2) against Si copied + Cl's training mean (a height-1 peak): 1/2.
    pooled = (_peak(40, 2.0) + _peak(80) + _peak(120) + _peak(60, 0.5) + _peak(100, 3.0)) / 5
    feo = np.abs(pooled - _peak(100, 3.0)).sum() / (_peak(60, 0.5) + _peak(100, 3.0)).sum()
    assert m["consistency.sum_rule"] == pytest.approx((0 + 0 + feo + 0.5) / 4)
    assert m["consistency.sum_rule_true"] == pytest.approx(0.0, abs=1e-12)  # the data's DOS is its element sum
    assert all(np.isfinite(m[k]) for k in ("dos.wd_bins", "epdos.wd_bins", "gap.mae_ev", "gap.ext_mae_ev"))


def test_split_ids_missing_from_the_data_are_named():
    with pytest.raises(ValueError, match=r"test id.*te-unknown.*dvc repro split"):
        split_rows(DATA, {"train": TRAIN, "test": ["te-si", "te-unknown"]})
    with pytest.raises(ValueError, match="no train materials"):
        split_rows(DATA, {"train": [], "test": TEST})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"knn": {}}, "valid keys: composition_nn"),
        ({"composition_nn": {"k": 1, "distance": "l1"}}, "valid keys: k, metric"),
        ({"composition_nn": {"metric": "cosine"}}, "choose one of: l1, l2"),
        ({"composition_nn": {"k": 0}}, "integer >= 1"),
        ({"composition_nn": {"k": True}}, "integer >= 1"),
    ],
)
def test_bad_baseline_params_are_errors_that_list_the_valid_values(section, message):
    with pytest.raises(ConfigError, match=message):
        BaselineConfig.from_params(section)


def test_baseline_params_default_to_one_neighbour_by_l1():
    assert BaselineConfig.from_params(None) == BaselineConfig(k=1, metric="l1")
    assert BaselineConfig.from_params({"composition_nn": {"k": 3, "metric": "l2"}}) == BaselineConfig(3, "l2")
