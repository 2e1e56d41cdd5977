"""`pchip` against scipy's PchipInterpolator: bitwise equal values (np.array_equal, signs of zeros included)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from dosforge.preprocess import pchip


def _knots(rng, p: int) -> np.ndarray:
    return np.cumsum(rng.uniform(0.01, 1.0, p)) + rng.uniform(-50, 50)


def _points(rng, x: np.ndarray) -> np.ndarray:
    """Inside, on every knot, at both ends and beyond them (extrapolated from the end intervals)."""
    inside = rng.uniform(x[0], x[-1], 200)
    return np.concatenate([inside, x, [x[0] - 0.7, x[-1] + 0.7, np.nextafter(x[-1], -np.inf)]])


def _assert_bitwise(x: np.ndarray, y: np.ndarray, points: np.ndarray) -> None:
    reference = PchipInterpolator(x, y, axis=1)
    for ours, theirs in (
        (pchip.evaluate(x, y, points), reference(points)),
        (pchip.antiderivative(x, y, points), reference.antiderivative()(points)),
    ):
        assert ours.shape == theirs.shape
        assert np.array_equal(ours, theirs)
        assert np.array_equal(np.signbit(ours), np.signbit(theirs))  # -0.0 and 0.0 are different bytes
    assert np.array_equal(pchip.derivatives(x, y), _scipy_derivatives(x, y))


def _scipy_derivatives(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """scipy's slopes as PchipInterpolator.__init__ computes them (knots as a column), one row per spectrum."""
    return PchipInterpolator._find_derivatives(x[:, None], y.T, xp=np).T


def _rows(rng, kind: str, k: int, p: int) -> np.ndarray:
    if kind == "random":  # not monotone: sign changes everywhere
        return rng.normal(size=(k, p))
    if kind == "monotone":
        return np.cumsum(rng.uniform(0, 1, (k, p)), axis=1) * rng.choice([-1, 1], (k, 1))
    if kind == "flat":  # runs of equal values and zeros: zero slopes on either side of a knot
        return np.round(rng.normal(size=(k, p))) * (rng.random((k, p)) < 0.5)
    if kind == "signed zeros":  # a DOS with exact -0.0 entries (a spin sum of -0.0 + -0.0)
        return np.where(rng.random((k, p)) < 0.4, -0.0, rng.exponential(size=(k, p)))
    if kind == "steps":  # one sign change between two flat plateaus
        y = np.repeat(rng.normal(size=(k, 1)), p, axis=1)
        y[:, p // 2 :] *= -1
        return y
    if kind == "peaks":  # narrow peaks over a wide dynamic range
        return np.exp(rng.uniform(-30, 5, (k, p))) * (rng.random((k, p)) < 0.2)
    raise ValueError(kind)


KINDS = ("random", "monotone", "flat", "signed zeros", "steps", "peaks")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("p", [2, 3, 4, 5, 17, 400])
def test_bitwise_equal_to_scipy(kind, p):
    rng = np.random.default_rng(p * 31 + KINDS.index(kind))
    for _ in range(20):
        x = _knots(rng, p)
        k = int(rng.integers(1, 6))  # several rows at once, and one
        _assert_bitwise(x, _rows(rng, kind, k, p), _points(rng, x))


def test_rows_are_independent():
    """A row gives the same values alone as among others (each row's arithmetic is its own)."""
    rng = np.random.default_rng(7)
    x = _knots(rng, 50)
    y = rng.normal(size=(4, 50))
    points = _points(rng, x)
    together = pchip.evaluate(x, y, points)
    for r in range(4):
        assert np.array_equal(pchip.evaluate(x, y[r : r + 1], points)[0], together[r])


def test_end_point_rule_limits_and_zeros_the_end_slopes():
    """The one-sided end slope is set to 0 against the end segment's sign and limited to 3x where the data turn."""
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([[0.0, 1.0, -10.0, -11.0], [0.0, 1.0, 1.5, 1.6], [0.0, 0.1, 5.0, 5.0]])
    d = pchip.derivatives(x, y)
    assert np.array_equal(d, _scipy_derivatives(x, y))
    assert d[0, 0] == 3.0  # limited: the data turn after the first segment (slope 1)
    assert d[2, 0] == 0.0  # the three-point estimate points against the first segment's slope


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([0.0], [[1.0]]),  # fewer than 2 points
        ([0.0, np.inf, 2.0], [[1.0, 2.0, 3.0]]),
        ([0.0, 1.0, 2.0], [[1.0, np.inf, 3.0]]),  # what an overflowing up + down spin sum gives
        ([0.0, 1.0, 2.0], [[1.0, np.nan, 3.0]]),
        ([0.0, 2.0, 1.0], [[1.0, 2.0, 3.0]]),
        ([0.0, 1.0, 1.0], [[1.0, 2.0, 3.0]]),
    ],
)
def test_bad_input_raises_scipys_error(x, y):
    """Same exception and message as scipy: a failing record's reject detail in rejects.csv quotes it."""
    x, y = np.array(x), np.array(y)
    with pytest.raises(ValueError) as theirs:
        PchipInterpolator(x, y, axis=1)
    for fn in (pchip.evaluate, pchip.antiderivative):
        with pytest.raises(ValueError) as ours:
            fn(x, y, np.array([0.5]))
        assert str(ours.value) == str(theirs.value)
