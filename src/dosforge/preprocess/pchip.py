"""PCHIP of many spectra on one set of knots, bitwise equal to scipy's `PchipInterpolator` (issue 14).

Why not scipy: preprocess resamples every material's spectra (total + one row per element), and building
a `PchipInterpolator` per material (input checks, a `PPoly`, for bin averages an antiderivative object)
costs more than its arithmetic. These functions do the same arithmetic with plain numpy over all rows at
once. Each operation of scipy 1.17's `PchipInterpolator._find_derivatives` (Fritsch-Carlson slopes with its
one-sided end-point rule), `CubicHermiteSpline.__init__`, `PPoly.__call__` (Cython `evaluate_poly1`,
`find_interval_ascending`) and `PPoly.antiderivative` (`fix_continuity`) is repeated on the same operands
in the same order, so every value is bitwise the one scipy returns: the processed shards stay identical.
tests/preprocess/test_pchip.py checks that with `np.array_equal`; reorder an operation here and it fails.

Layout: `x` (P,) strictly increasing knots, `y` (K, P) one spectrum per row, results (K, N) for N points.
Points outside [x[0], x[-1]] are extrapolated from the end intervals, as scipy does by default.
"""

from __future__ import annotations

import numpy as np

# `PPoly.antiderivative` divides the coefficients of s^3, s^2, s, 1 by scipy.special.poch(arange(4, 0, -1), 1),
# which is exactly these
_ANTIDERIVATIVE_DIVISORS = (4.0, 3.0, 2.0, 1.0)


def check_input(x: np.ndarray, y: np.ndarray) -> None:
    """scipy's `prepare_input` checks, in its order and with its messages (a failing record's reject detail
    in rejects.csv quotes them, so they must not change either)."""
    if x.ndim != 1:
        raise ValueError("`x` must be 1-dimensional.")
    if x.shape[0] < 2:
        raise ValueError("`x` must contain at least 2 elements.")
    if x.shape[0] != y.shape[-1]:  # (the message of spectra's former axis=0 call)
        raise ValueError("The length of `y` along `axis`=0 doesn't match the length of `x`")
    if not np.isfinite(x).all():
        raise ValueError("`x` must contain only finite values.")
    if not np.isfinite(y).all():  # reachable: up + down can overflow to inf
        raise ValueError("`y` must contain only finite values.")
    if (np.diff(x) <= 0).any():
        raise ValueError("`x` must be strictly increasing sequence.")


def derivatives(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The PCHIP slope at every knot, (K, P): `PchipInterpolator._find_derivatives` row by row."""
    h = x[1:] - x[:-1]
    m = (y[:, 1:] - y[:, :-1]) / h
    if y.shape[1] == 2:  # two points: the straight line
        return np.concatenate([m, m], axis=1)
    sm = np.sign(m)
    # scipy: signs differ or either slope is 0; with signs in {-1, 0, 1} (y is finite, so m is never nan)
    # that is a product <= 0
    flat = sm[:, 1:] * sm[:, :-1] <= 0
    w1 = 2 * h[1:] + h[:-1]
    w2 = h[1:] + 2 * h[:-1]
    # scipy divides only where `flat` is false; dividing everywhere gives the same values there, and the
    # inf/nan elsewhere are replaced by 0 below
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        whmean = (w1 / m[:, :-1] + w2 / m[:, 1:]) / (w1 + w2)
        inner = 1.0 / whmean
    d = np.empty_like(y)
    d[:, 1:-1] = np.where(flat, 0.0, inner)
    ends = [0, -1]  # both ends in one call: (end segment, next segment) = (0, 1) and (-1, -2)
    d[:, ends] = _end_slope(h[ends], h[[1, -2]], m[:, ends], m[:, [1, -2]])
    return d


def _end_slope(h0: np.ndarray, h1: np.ndarray, m0: np.ndarray, m1: np.ndarray) -> np.ndarray:
    """scipy's `_edge_case`: the one-sided three-point slope, set to 0 where its sign is not the end
    segment's and limited to 3 * m0 where the data turn (Moler, Numerical Computing with MATLAB, 3.6)."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    mask = np.sign(d) != np.sign(m0)
    mask2 = (np.sign(m0) != np.sign(m1)) & (np.abs(d) > 3.0 * np.abs(m0))
    d[mask] = 0.0
    d[~mask & mask2] = 3.0 * m0[~mask & mask2]
    return d


def _intervals(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`find_interval_ascending` with extrapolation: x[i] <= point < x[i + 1], the last interval closed,
    points beyond either end in the end interval."""
    i = np.searchsorted(x, points, side="right") - 1
    return np.clip(i, 0, len(x) - 2, out=i)


def _cubic(x, y, d, i):
    """`CubicHermiteSpline`'s coefficients (s^3, s^2, s, 1) of intervals `i`, each (K, len(i))."""
    dx = x[i + 1] - x[i]
    y0, d0, d1 = y[:, i], d[:, i], d[:, i + 1]
    slope = (y[:, i + 1] - y0) / dx
    t = (d0 + d1 - 2 * slope) / dx
    return t / dx, (slope - d0) / dx - t, d0, y0


def evaluate(x: np.ndarray, y: np.ndarray, points: np.ndarray) -> np.ndarray:
    """PchipInterpolator(x, y, axis=1)(points), (K, N)."""
    check_input(x, y)
    i = _intervals(x, points)
    c3, c2, c1, c0 = _cubic(x, y, derivatives(x, y), i)
    s = points - x[i]
    s2 = s * s
    # evaluate_poly1: res = 0.0 (so a -0.0 constant gives +0.0), then res += c_k * s^k for k = 0, 1, 2, 3 with
    # s^k built as ((s * s) * s)
    return (((0.0 + c0) + c1 * s) + c2 * s2) + c3 * (s2 * s)


def antiderivative(x: np.ndarray, y: np.ndarray, points: np.ndarray) -> np.ndarray:
    """PchipInterpolator(x, y, axis=1).antiderivative()(points), (K, N): the integral from x[0]."""
    check_input(x, y)
    every = np.arange(len(x) - 1)
    cubic = _cubic(x, y, derivatives(x, y), every)
    a4, a3, a2, a1 = (c / q for c, q in zip(cubic, _ANTIDERIVATIVE_DIVISORS, strict=True))
    # fix_continuity: the constant of interval j is interval j-1's antiderivative at its right end, i.e. its
    # constant plus a1 h, a2 h^2, a3 h^3, a4 h^4 added one by one in that order. A cumulative sum over
    # [0, a1_0 h_0, a2_0 h_0^2, ..., a4_0 h_0^4, a1_1 h_1, ...] does exactly those additions.
    h = x[1:] - x[:-1]
    h2 = h * h
    h3 = h2 * h
    terms = np.zeros((y.shape[0], len(every), 4))
    terms[:, :, 0], terms[:, :, 1], terms[:, :, 2], terms[:, :, 3] = a1 * h, a2 * h2, a3 * h3, a4 * (h3 * h)
    flat = np.concatenate([np.zeros((y.shape[0], 1)), terms.reshape(y.shape[0], -1)], axis=1)
    constants = np.add.accumulate(flat, axis=1)[:, 0:-1:4]  # interval j: the sum before its own terms
    i = _intervals(x, points)
    s = points - x[i]
    s2 = s * s
    s3 = s2 * s
    return ((((0.0 + constants[:, i]) + a1[:, i] * s) + a2[:, i] * s2) + a3[:, i] * s3) + a4[:, i] * (s3 * s)
