import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from dosforge.tb import TBParams, label_structure
from dosforge.tb.hamiltonian import build_tight_binding
from dosforge.tb.kmesh import reduced_kpoints
from dosforge.tb.spectrum import broadened_dos, electron_count, solve_bands

P = TBParams()


def _full_window_dos(structure, mesh):
    """DOS over a window holding every level (so nothing is cut off)."""
    tb = build_tight_binding(structure)
    k, w, _ = reduced_kpoints(structure, mesh)
    bands = solve_bands(tb, k, w)
    lo = bands.eigenvalues.min() - 3.0
    n = int((bands.eigenvalues.max() + 3.0 - lo) / 0.02)
    total, per_el = broadened_dos(bands, lo, 0.02, n, P.sigma)
    return tb, bands, total, per_el


def test_epdos_sums_to_dos_and_states_equal_orbitals(tio2):
    tb, _, total, per_el = _full_window_dos(tio2, (3, 3, 4))
    np.testing.assert_allclose(per_el.sum(0), total, rtol=0, atol=1e-12 * total.max())
    # both spins counted: 2 states per orbital
    assert total.sum() * 0.02 == pytest.approx(2 * tb.n_orb, rel=1e-12)


@pytest.mark.parametrize("name", ["si", "cu", "tio2"])
def test_electrons_below_fermi_equal_valence_count(name, request):
    s = request.getfixturevalue(name)
    lab = label_structure(s, P, mesh=(4, 4, 4))
    tb = build_tight_binding(s)
    k, w, _ = reduced_kpoints(s, (4, 4, 4))
    bands = solve_bands(tb, k, w)
    if lab.is_metal:
        assert electron_count(bands, lab.efermi, P.sigma) == pytest.approx(tb.n_electrons, abs=1e-6)
    else:  # E_F at the VBM: exactly the valence count of levels at or below it
        below = 2 * (w[:, None] * (bands.eigenvalues <= lab.efermi + 1e-9)).sum()
        assert below == pytest.approx(tb.n_electrons, abs=1e-9)


def test_semiconductors_and_metals(si, gaas, cu, al):
    for s in (si, gaas):
        lab = label_structure(s, P)
        assert not lab.is_metal and 1.0 < lab.band_gap < 3.0, (s.formula, lab.band_gap)
        fermi_bin = np.searchsorted(lab.energies, lab.efermi + 0.5 * lab.band_gap)
        assert lab.total[fermi_bin] < 0.05  # no states mid-gap
    for s in (cu, al):
        lab = label_structure(s, P)
        assert lab.is_metal and lab.band_gap == 0.0
        assert lab.total[np.searchsorted(lab.energies, lab.efermi)] > 0.1  # states at E_F
    # Cu: the filled d band dominates just below E_F
    lab = label_structure(cu, P)
    assert lab.total[(lab.energies > lab.efermi - 4) & (lab.energies < lab.efermi - 1)].max() > 2.0


def test_invariant_under_rigid_rotation(tio2):
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    rotated = Structure(Lattice(tio2.lattice.matrix @ q.T), tio2.species, tio2.frac_coords)
    a, b = label_structure(tio2, P, mesh=(3, 3, 4)), label_structure(rotated, P, mesh=(3, 3, 4))
    assert a.efermi == pytest.approx(b.efermi, abs=1e-9) and a.band_gap == pytest.approx(b.band_gap, abs=1e-9)
    np.testing.assert_allclose(a.total, b.total, atol=1e-8)


def test_supercell_gives_same_dos_per_atom(gaas):
    sc = gaas.copy()
    sc.make_supercell([[1, 1, 0], [0, 1, 0], [0, 0, 2]])  # 4 atoms, a sheared cell
    # the (4, 4, 2) mesh of this supercell folds onto the (4, 4, 4) mesh of the primitive cell
    assert build_tight_binding(sc).n_orb == 2 * build_tight_binding(gaas).n_orb
    la, lb = label_structure(gaas, P, mesh=(4, 4, 4)), label_structure(sc, P, mesh=(4, 4, 2))
    assert la.efermi == pytest.approx(lb.efermi, abs=1e-9)
    assert la.band_gap == pytest.approx(lb.band_gap, abs=1e-9)
    np.testing.assert_allclose(la.total, lb.total / 2, atol=1e-8)


def test_same_input_bit_identical(tio2):
    a, b = label_structure(tio2, P, mesh=(3, 3, 4)), label_structure(tio2.copy(), P, mesh=(3, 3, 4))
    assert a.efermi == b.efermi and a.band_gap == b.band_gap
    assert a.total.tobytes() == b.total.tobytes()
    assert all(a.elements[e].tobytes() == b.elements[e].tobytes() for e in a.elements)


@pytest.mark.parametrize("name", ["si", "gaas"])
def test_insulator_gap_is_empty_so_the_papers_extractions_recover_it(name, request):
    """E_F sits at the VBM; the gap above it must hold no states, or A.4's scan and Algorithm 1 read 0."""
    import torch

    from dosforge.gap import soft_gap, threshold_gap
    from dosforge.grid import EnergyGrid

    lab = label_structure(request.getfixturevalue(name), P)
    assert not lab.is_metal
    grid = EnergyGrid()
    # bin averages on the project grid, straight from the raw histogram's cumulative count
    cum = np.concatenate([[0.0], np.cumsum(lab.total) * P.dos_step])
    raw_edges = np.concatenate([lab.energies - P.dos_step / 2, [lab.energies[-1] + P.dos_step / 2]])
    dos = np.diff(np.interp(grid.edges + lab.efermi, raw_edges, cum)) / grid.de
    assert threshold_gap(dos, grid.de) == pytest.approx(lab.band_gap, abs=2 * grid.de)
    assert float(soft_gap(torch.tensor(dos), grid.de)) == pytest.approx(lab.band_gap, abs=3 * grid.de)


def test_insulator_edges_keep_state_counts_and_element_sum(si):
    from dosforge.tb.spectrum import fermi_level, insulator_dos

    tb = build_tight_binding(si)
    k, w, _ = reduced_kpoints(si, (4, 4, 4))
    bands = solve_bands(tb, k, w)
    fermi = fermi_level(bands, P.sigma)
    lo = bands.eigenvalues.min() - 3.0
    n = int((bands.eigenvalues.max() + 3.0 - lo) / 0.02)
    total, per_el = insulator_dos(bands, fermi, lo, 0.02, n, P.sigma, P.edge_width)
    centres = lo + (np.arange(n) + 0.5) * 0.02
    assert total.sum() * 0.02 == pytest.approx(2 * tb.n_orb, rel=1e-12)
    assert total[centres < fermi.efermi].sum() * 0.02 == pytest.approx(tb.n_electrons, rel=1e-12)
    assert not total[(centres > fermi.vbm) & (centres < fermi.cbm)].any()
    np.testing.assert_allclose(per_el.sum(0), total, rtol=0, atol=1e-12 * total.max())
