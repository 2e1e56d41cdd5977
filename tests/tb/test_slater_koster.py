"""Each Slater-Koster block equals an independent bond-frame construction: in a frame whose z axis
is the bond, the hopping is diagonal in |m| (sigma, pi, delta); rotating both orbitals' frames back
gives the block for any direction. p orbitals rotate as vectors, d orbitals as traceless quadratic forms."""

import numpy as np
import pytest

from dosforge.tb.slater_koster import sk_blocks

# real d orbitals as symmetric matrices Q with d(r) = r^T Q r: xy, yz, zx, x^2-y^2, 3z^2-r^2 (normalised alike)
_Q = np.zeros((5, 3, 3))
_Q[0][0, 1] = _Q[0][1, 0] = np.sqrt(3) / 2
_Q[1][1, 2] = _Q[1][2, 1] = np.sqrt(3) / 2
_Q[2][0, 2] = _Q[2][2, 0] = np.sqrt(3) / 2
_Q[3] = np.diag([np.sqrt(3) / 2, -np.sqrt(3) / 2, 0])
_Q[4] = np.diag([-0.5, -0.5, 1.0])


def _rotation_to(direction):
    """A rotation R with R @ z = direction."""
    z = direction / np.linalg.norm(direction)
    helper = np.array([1.0, 0, 0]) if abs(z[0]) < 0.9 else np.array([0, 1.0, 0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def _d_rotation(r):
    """U[a, b]: d_a(R r') expanded in d_b(r')."""
    rq = np.einsum("ji,ajk,kl->ail", r, _Q, r)  # R^T Q_a R
    norms = np.einsum("bij,bij->b", _Q, _Q)
    return np.einsum("ail,bil->ab", rq, _Q) / norms[None, :]


def _bond_frame_block(direction, v_ij, v_ji):
    r = _rotation_to(direction)
    u = np.zeros((9, 9))
    u[0, 0] = 1.0
    u[1:4, 1:4] = r
    u[4:9, 4:9] = _d_rotation(r)
    # bond frame: m = 0 (s, pz, dz2), |m| = 1 (px, py; dzx, dyz), |m| = 2 (dxy, dx2-y2)
    ss, sp, sd, pps, ppp, pds, pdp, dds, ddp, ddd = v_ij
    _, sp_r, sd_r, _, _, pds_r, pdp_r, _, _, _ = v_ji
    h = np.zeros((9, 9))
    h[0, 0] = ss
    h[0, 3], h[3, 0] = sp, -sp_r  # <s|pz> = sp_sigma; <pz on i|s on j> = -sp_sigma (parity)
    h[0, 8], h[8, 0] = sd, sd_r
    h[1, 1] = h[2, 2] = ppp
    h[3, 3] = pps
    h[3, 8], h[8, 3] = pds, -pds_r
    h[1, 6], h[6, 1] = pdp, -pdp_r  # px - dzx
    h[2, 5], h[5, 2] = pdp, -pdp_r  # py - dyz
    h[8, 8] = dds
    h[5, 5] = h[6, 6] = ddp
    h[4, 4] = h[7, 7] = ddd
    return u @ h @ u.T


@pytest.mark.parametrize("seed", range(5))
def test_blocks_match_bond_frame_rotation(seed):
    rng = np.random.default_rng(seed)
    dirs = rng.normal(size=(8, 3)) * rng.uniform(1.5, 3.5, size=(8, 1))
    v_ij = rng.normal(size=(8, 10))
    v_ji = v_ij.copy()
    v_ji[:, [1, 2, 5, 6]] = rng.normal(size=(8, 4))  # a different atom carries the d shell
    got = sk_blocks(dirs, v_ij, v_ji)
    for b in range(8):
        want = _bond_frame_block(dirs[b], v_ij[b], v_ji[b])
        np.testing.assert_allclose(got[b], want, atol=1e-13)


def test_reversed_bond_is_transpose():
    """<a on i|H|b on j>(d) = <b on j|H|a on i>(-d): the Bloch Hamiltonian is Hermitian only if so."""
    rng = np.random.default_rng(7)
    d = rng.normal(size=(4, 3))
    v_ij, v_ji = rng.normal(size=(4, 10)), rng.normal(size=(4, 10))
    v_ji[:, [0, 3, 4, 7, 8, 9]] = v_ij[:, [0, 3, 4, 7, 8, 9]]
    np.testing.assert_allclose(sk_blocks(d, v_ij, v_ji), np.swapaxes(sk_blocks(-d, v_ji, v_ij), 1, 2), atol=1e-14)
