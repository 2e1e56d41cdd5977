"""PCHIP onto the grid in both `preprocess.resample` modes: what a bin value is, E_F alignment, coverage, spins."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator
from scipy.special import erf

from dosforge.config import ConfigError
from dosforge.grid import EnergyGrid
from dosforge.preprocess.spectra import (
    RESAMPLE_MODES,
    bin_average,
    bin_centre_values,
    element_residual,
    grid_spectra,
    resample,
    spin_sum,
    window_covered,
)

G = EnergyGrid()


def test_bin_value_is_the_average_over_the_bin():
    e = np.linspace(-30, 30, 3001)
    # linear data: PCHIP reproduces it exactly, and the bin average is the value at the bin centre
    np.testing.assert_allclose(bin_average(e, 2.0 * e + 1.0, 0.0, G), 2.0 * G.centers + 1.0, atol=1e-9)
    # a Gaussian: each bin equals the exact integral over the bin / dE
    s = 0.3
    exact = 0.5 * (erf(G.edges[1:] / (s * np.sqrt(2))) - erf(G.edges[:-1] / (s * np.sqrt(2)))) / G.de
    gauss = np.exp(-(e**2) / (2 * s * s)) / (s * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(bin_average(e, gauss, 0.0, G), exact, atol=2e-4)
    assert bin_average(e, gauss, 0.0, G).sum() * G.de == pytest.approx(1.0, abs=1e-6)  # states conserved


def test_a_narrow_peak_between_bin_centres_is_kept():
    e = np.linspace(-15, 15, 30001)  # 1 meV raw spacing
    peak = np.where(np.abs(e - 0.02) < 0.005, 100.0, 0.0)  # 1 state at 0.02 eV, between centres 0.039 and -0.039
    values = bin_average(e, peak, 0.0, G)
    assert values.sum() * G.de == pytest.approx(1.0, rel=1e-3)
    assert values[128] * G.de == pytest.approx(1.0, rel=1e-3)  # all of it in the bin that holds 0.02 eV
    assert (values >= 0).all()  # PCHIP does not overshoot below zero


def test_fermi_level_on_the_edge_between_bins_127_and_128():
    ef = 3.217  # absolute; a step from 1 to 0 states/eV exactly at E_F
    e = np.sort(np.concatenate([np.linspace(ef - 20, ef + 20, 4001), [ef - 1e-9, ef]]))
    step = np.where(e < ef, 1.0, 0.0)
    values = bin_average(e, step, ef, G)
    np.testing.assert_allclose(values[:127], 1.0, atol=1e-9)
    np.testing.assert_allclose(values[129:], 0.0, atol=1e-9)
    assert values[127] > 0.99 and values[128] < 0.01


def test_window_slice_gives_the_full_interpolant():
    rng = np.random.default_rng(0)
    e = np.cumsum(rng.uniform(0.01, 0.2, 800)) - 40
    d = rng.uniform(0, 5, (800, 3))
    full = PchipInterpolator(e, d, axis=0).antiderivative()(G.edges + 1.0)
    np.testing.assert_allclose(bin_average(e, d, 1.0, G), (np.diff(full, axis=0) / G.de).T, rtol=1e-10, atol=1e-10)


def test_coverage_and_spin_sum():
    e = np.linspace(-5, 12, 100)
    assert not window_covered(e, 0.0, G)  # starts at -5 eV: the window needs -10
    assert window_covered(np.linspace(-10, 10, 100), 0.0, G)
    up, down = np.array([1.0, 2.0]), np.array([0.5, 0.25])
    np.testing.assert_allclose(spin_sum({"up": up, "down": down}), [1.5, 2.25])
    np.testing.assert_allclose(spin_sum({"up": up}), up)
    assert element_residual(np.array([2.0, 2.0]), np.array([1.0, 2.0])) == pytest.approx(0.25)


def test_interpolate_is_the_pchip_curve_at_the_bin_centres():
    e = np.linspace(-30, 30, 3001)
    np.testing.assert_allclose(bin_centre_values(e, 2.0 * e + 1.0, 0.0, G), 2.0 * G.centers + 1.0, atol=1e-9)
    s = 0.3
    gauss = np.exp(-(e**2) / (2 * s * s)) / (s * np.sqrt(2 * np.pi))
    values = bin_centre_values(e, gauss, 0.0, G)
    inside = np.abs(e) <= 10.5  # the reference on the window (the Gaussian's far tails underflow)
    np.testing.assert_allclose(values, PchipInterpolator(e[inside], gauss[inside])(G.centers), rtol=0, atol=1e-12)
    # the peak height: the Gaussian at the centre nearest its maximum (0.039 eV off), not the bin average
    assert values.max() == pytest.approx(np.exp(-((G.de / 2) ** 2) / (2 * s * s)) / (s * np.sqrt(2 * np.pi)), rel=1e-4)
    assert values.max() > bin_average(e, gauss, 0.0, G).max()
    # states are conserved only up to the midpoint-rule error, here (dE^2/24) * f''-weighted: ~1e-3 of 1
    assert values.sum() * G.de == pytest.approx(1.0, abs=2e-3)


def test_interpolate_misses_a_peak_narrower_than_a_bin_between_centres():
    """The trade-off of the paper's mode (docs/data_pipeline.md): sampling at centres can miss a narrow peak."""
    e = np.linspace(-15, 15, 30001)
    peak = np.where(np.abs(e - 0.02) < 0.005, 100.0, 0.0)  # between the centres -0.039 and 0.039
    assert bin_centre_values(e, peak, 0.0, G).sum() == 0.0
    assert bin_average(e, peak, 0.0, G).sum() * G.de == pytest.approx(1.0, rel=1e-3)


def test_interpolate_fermi_level_step_and_window_slice():
    ef = 3.217
    e = np.sort(np.concatenate([np.linspace(ef - 20, ef + 20, 4001), [ef - 1e-9, ef]]))
    values = bin_centre_values(e, np.where(e < ef, 1.0, 0.0), ef, G)
    np.testing.assert_allclose(values[:128], 1.0, atol=1e-12)  # bin 127's centre is dE/2 below E_F
    np.testing.assert_allclose(values[128:], 0.0, atol=1e-12)
    rng = np.random.default_rng(0)
    e = np.cumsum(rng.uniform(0.01, 0.2, 800)) - 40
    d = rng.uniform(0, 5, (800, 3))
    full = PchipInterpolator(e, d, axis=0)(G.centers + 1.0)
    np.testing.assert_allclose(bin_centre_values(e, d, 1.0, G), full.T, rtol=1e-10, atol=1e-10)
    assert (bin_centre_values(e, d, 1.0, G) >= 0).all()  # PCHIP does not overshoot below zero


@pytest.mark.parametrize("mode", RESAMPLE_MODES)
def test_resample_dispatches_and_grid_spectra_follows_the_mode(mode):
    e = np.linspace(-20, 20, 801)
    d = 1.0 + np.sin(e) ** 2
    expected = bin_centre_values(e, d, 0.0, G) if mode == "interpolate" else bin_average(e, d, 0.0, G)
    np.testing.assert_array_equal(resample(e, d, 0.0, G, mode), expected)
    dos, epdos = grid_spectra(e, 0.0, {"up": d, "down": d}, {"Si": {"up": d / 2, "down": d / 2}}, G, mode=mode)
    np.testing.assert_allclose(dos, 2 * expected, rtol=1e-12)
    np.testing.assert_allclose(epdos["Si"], expected, rtol=1e-12)


def test_unknown_resample_mode_lists_the_valid_ones(tmp_path):
    from dosforge.preprocess import preprocess

    e = np.linspace(-20, 20, 801)
    with pytest.raises(ConfigError, match="preprocess.resample='nearest'.*interpolate, average"):
        resample(e, np.ones_like(e), 0.0, G, "nearest")
    params = {"grid": {"emin": -10.0, "emax": 10.0, "bins": 256}, "preprocess": {"resample": "spline"}}
    with pytest.raises(ConfigError, match="interpolate, average"):
        preprocess(tmp_path / "raw", tmp_path / "out", params, graph_builder=None, progress=False)


def _scipy_on_window(e, d, ef, grid, mode):
    """What spectra computed before issue 14: scipy's PchipInterpolator on the window slice (3 knots margin)."""
    edges = grid.edges + ef
    lo = max(int(np.searchsorted(e, edges[0], side="right")) - 4, 0)
    hi = min(int(np.searchsorted(e, edges[-1], side="left")) + 4, len(e))
    interp = PchipInterpolator(e[lo:hi], d[lo:hi], axis=0)
    if mode == "interpolate":
        return interp(grid.centers + ef).T
    return (np.diff(interp.antiderivative()(np.clip(edges, interp.x[0], interp.x[-1])), axis=0) / grid.de).T


@pytest.mark.parametrize("mode", RESAMPLE_MODES)
@pytest.mark.parametrize("grid", [G, EnergyGrid(-7.5, 12.0, 64)])
def test_grid_spectra_bitwise_as_scipy(mode, grid):
    """The processed shards must not change: every value bitwise equal to scipy's, spin-polarised or not,
    for MP-like spectra, window ends on or next to a knot, and a window reaching the grid's ends."""
    rng = np.random.default_rng(5)
    for case in range(12):
        ef = rng.uniform(-3, 8)
        if case % 3 == 2:  # the window's ends fall exactly on knots, which end exactly at the window
            e = ef + np.linspace(grid.emin, grid.emax, 500)
        else:
            e = ef + np.sort(rng.uniform(-60, 40, 2000))
        centres, widths = rng.uniform(-12, 12, (4, 1, 6)), rng.uniform(0.05, 2.0, (4, 1, 6))
        raw = np.exp(-0.5 * ((e[:, None] - ef - centres) / widths) ** 2).sum(-1) * (rng.random((4, len(e))) > 0.1)
        spins = ("up", "down") if case % 2 else ("up",)
        total = {s: raw[0] * (i + 1) for i, s in enumerate(spins)}
        elements = {"O": {s: raw[1] for s in spins}, "Ti": {s: raw[2] for s in spins}, "Sr": {s: raw[3] for s in spins}}
        dos, epdos = grid_spectra(e, ef, total, elements, grid, mode=mode)
        columns = np.stack([spin_sum(total)] + [spin_sum(elements[s]) for s in elements], axis=1)
        expected = _scipy_on_window(e, columns, ef, grid, mode)
        assert list(epdos) == list(elements)
        assert np.array_equal(np.stack([dos, *epdos.values()]), expected)
        assert np.array_equal(resample(e, columns, ef, grid, mode), expected)
        assert np.array_equal(resample(e, columns[:, 0], ef, grid, mode), expected[0])
