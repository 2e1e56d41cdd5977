"""DOSTransformer's own protocol: smoothing and max-normalisation, the 201 points, per-material metrics."""

import numpy as np
import pytest
from scipy.signal import savgol_filter

from dosforge.families.dostransformer.protocol import (
    POINTS,
    energy_points,
    protocol_metrics,
    record_spectrum,
    smooth_and_normalise,
)
from dosforge.records import RawRecord


def test_201_points_over_plus_minus_5_ev():
    e = energy_points()
    assert len(e) == POINTS == 201 and e[0] == -5 and e[-1] == 5 and e[100] == 0
    assert np.allclose(np.diff(e), 0.05)


def test_spike_becomes_a_17_point_box_of_height_one():
    y = np.zeros(201)
    y[100] = 17.0  # order 1 on a 17-point window = a 17-point moving average in the interior
    out = smooth_and_normalise(y)
    expected = np.zeros(201)
    expected[92:109] = 1.0
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_linear_ramp_is_kept_and_divided_by_its_maximum():
    y = np.linspace(0.0, 4.0, 201)  # SG of order 1 reproduces a line exactly, edges included ('interp')
    np.testing.assert_allclose(smooth_and_normalise(y), y / 4.0, atol=1e-12)


def test_edge_negatives_are_clamped_and_zero_spectra_rejected():
    y = np.zeros(201)
    y[15] = 10.0  # inside the first window but past its centre: the edge line fit goes below 0 at index 0
    raw = savgol_filter(y, 17, 1)
    assert raw.min() < 0  # the edge fit undershoots: the clamp is exercised
    out = smooth_and_normalise(y)
    assert out.min() == 0.0 and out.max() == pytest.approx(1.0)
    assert smooth_and_normalise(np.zeros(201)) is None


def test_record_spectrum_aligns_to_the_fermi_level():
    energies = np.linspace(-20, 20, 4001)
    dos = np.exp(-((energies - 3.0 - 1.0) ** 2) / 0.5)  # a peak 1 eV above E_F = 3
    rec = RawRecord(id="x", source="t", synthetic=True, structure={}, efermi=3.0, energies=energies,
                    total={"up": dos / 2, "down": dos / 2}, elements=None)  # fmt: skip
    y = record_spectrum(rec)
    assert y.shape == (201,) and int(np.argmax(y)) == 120 and y.max() == pytest.approx(1.0)
    short = RawRecord(id="y", source="t", synthetic=True, structure={}, efermi=3.0, energies=energies[:2100],
                      total={"up": dos[:2100]}, elements=None)  # fmt: skip
    assert record_spectrum(short) is None  # the window does not reach E_F + 5 eV


def test_protocol_metrics_by_hand():
    true = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    pred = np.array([[0.0, 0.5, -1.0, 1.0], [1.0, 1.0, 0.0, 0.5]])  # -1 is clamped to 0
    m = protocol_metrics(pred, true)
    mse = [0.25 / 4, 0.25 / 4]
    assert m["dos.mse"] == pytest.approx(np.mean(mse)) and m["dos.mse_x10"] == pytest.approx(10 * np.mean(mse))
    assert m["dos.rmse"] == pytest.approx(np.mean(np.sqrt(mse)))
    assert m["dos.mae"] == pytest.approx(np.mean([0.5 / 4, 0.5 / 4]))
    assert m["dos.r2"] == pytest.approx(1 - 0.25 / 1.0)  # SS_tot = 1 for both materials
    assert m["n_test"] == 2
