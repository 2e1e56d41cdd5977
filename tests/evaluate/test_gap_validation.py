"""Appendix A.4 check: both extraction rules on ground-truth DOS, overall / metals / non-metals."""

import numpy as np
import pytest

from dosforge.evaluate.gap_validation import validate_gap_extraction


def _dos(grid, below, above, level=1.0, at_fermi=None):
    d = np.full(grid.bins, level)
    d[grid.bins // 2 - below : grid.bins // 2 + above] = 0.0
    if at_fermi is not None:  # a metal with a weak density at E_F
        d[grid.bins // 2 - 3 : grid.bins // 2 + 3] = at_fermi
    return d


def test_both_rules_recover_sharp_gaps_exactly(grid):
    dos = np.stack([_dos(grid, 0, 0), _dos(grid, 4, 6), _dos(grid, 10, 1)])
    gap = np.array([0, 10, 11]) * grid.de
    out = validate_gap_extraction(dos, gap, gap == 0, grid)
    assert (out["n"], out["n_metals"], out["n_non_metals"]) == (3, 1, 2)
    for method in ("algorithm1", "threshold_scan"):
        for group in ("", "metals_", "non_metals_"):
            assert out[f"{method}.{group}mae_ev"] == pytest.approx(0.0, abs=1e-9)


def test_metals_and_non_metals_are_scored_separately(grid):
    # metal with 0.01 states/eV at E_F: below the 0.02 threshold (scan sees a 6-bin gap) and Algorithm 1's
    # cumulative sum needs 10 such bins (k=10) to close the mask, so it leaks part of a bin per side too
    dos = np.stack([_dos(grid, 0, 0, at_fermi=0.01), _dos(grid, 2, 2)])
    gap = np.array([0.0, 5 * grid.de])  # the true gap is one bin wider than the DOS shows
    out = validate_gap_extraction(dos, gap, gap == 0, grid)
    assert out["threshold_scan.metals_mae_ev"] == pytest.approx(6 * grid.de)
    assert out["threshold_scan.non_metals_mae_ev"] == pytest.approx(grid.de)
    assert 0 < out["algorithm1.metals_mae_ev"] < 6 * grid.de
    assert out["algorithm1.non_metals_mae_ev"] == pytest.approx(grid.de)
    assert out["algorithm1.mae_ev"] == pytest.approx((out["algorithm1.metals_mae_ev"] + grid.de) / 2)


def test_no_metals_gives_nan_for_that_group(grid):
    out = validate_gap_extraction(np.stack([_dos(grid, 3, 3)]), np.array([6 * grid.de]), np.array([False]), grid)
    assert np.isnan(out["algorithm1.metals_mae_ev"]) and out["algorithm1.non_metals_mae_ev"] == pytest.approx(0)


def test_bad_shapes_are_rejected(grid):
    with pytest.raises(ValueError, match="256"):
        validate_gap_extraction(np.zeros((2, 100)), np.zeros(2), np.ones(2, bool), grid)
    with pytest.raises(ValueError, match="finite"):
        validate_gap_extraction(np.full((1, 256), np.nan), np.zeros(1), np.ones(1, bool), grid)
