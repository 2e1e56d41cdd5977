import numpy as np

from dosforge.tb.hamiltonian import build_tight_binding
from dosforge.tb.kmesh import full_mesh, reduced_kpoints


def test_hk_is_hermitian(tio2):
    tb = build_tight_binding(tio2)
    rng = np.random.default_rng(0)
    hk = tb.h_k(rng.uniform(-0.5, 0.5, size=(6, 3)))
    np.testing.assert_allclose(hk, np.conj(np.swapaxes(hk, 1, 2)), atol=1e-13)
    assert tb.n_orb == 2 * 9 + 4 * 4  # Ti: s, p, d; O: s, p


def test_coordination_of_diamond_and_fcc(si, cu):
    # diamond: 4 neighbours at d, the next shell (1.63 d) is past the taper; fcc: 12 at d, next shell at 1.41 d
    assert np.allclose(build_tight_binding(si).z_eff, 4.0)
    assert np.allclose(build_tight_binding(cu).z_eff, 12.0)


def test_symmetry_reduced_mesh_has_full_weight(tio2):
    k, w, how = reduced_kpoints(tio2, (4, 4, 6))
    assert how == "spglib" and len(k) < 4 * 4 * 6
    assert np.isclose(w.sum(), 1.0)
    k_tr, w_tr, how_tr = reduced_kpoints(tio2, (4, 4, 6), use_symmetry=False)
    assert how_tr == "time_reversal" and len(k_tr) == (4 * 4 * 6) // 2 + 4  # 8 TRIM points pair with themselves
    assert len(full_mesh((4, 4, 6))) == 96
