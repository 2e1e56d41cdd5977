"""Two-centre Slater-Koster hopping blocks for an s, p, d basis (Slater & Koster, Phys. Rev. 94, 1498 (1954), Table I).

Orbital order (9): s, px, py, pz, dxy, dyz, dzx, dx2-y2, dz2 (= 3z^2 - r^2).
Integral order (10): ss_sigma, sp_sigma, sd_sigma, pp_sigma, pp_pi, pd_sigma, pd_pi, dd_sigma, dd_pi, dd_delta.

`v_ij[b, :]` are the integrals with the lower-l orbital on atom i (the bond's first atom), `v_ji` with
the lower-l orbital on atom j; they differ only where an integral depends on which atom carries the
d shell (Harrison's r_d enters sd and pd). Blocks with the higher-l orbital on atom i follow from
parity: E_ab(d) = (-1)^(l_a + l_b) E_ba(d) evaluated with the swapped pair's integrals.
"""

from __future__ import annotations

import numpy as np

INTEGRALS = (
    "ss_sigma", "sp_sigma", "sd_sigma", "pp_sigma", "pp_pi", "pd_sigma", "pd_pi", "dd_sigma", "dd_pi", "dd_delta",
)  # fmt: skip
L_OF_ORBITAL = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])
S3 = np.sqrt(3.0)


def _p_d(c, v_sig, v_pi):
    """(B, 3, 5) block <p_a | H | d_b> with the p orbital on the first atom."""
    l, m, n = c
    out = np.empty(l.shape + (3, 5))
    cos = (l, m, n)
    # d orbitals built from a pair of axes: xy=(0,1), yz=(1,2), zx=(2,0)
    pairs = ((0, 1), (1, 2), (2, 0))
    for a in range(3):
        for k, (b1, b2) in enumerate(pairs):
            if a in (b1, b2):
                other = cos[b2] if a == b1 else cos[b1]
                out[..., a, k] = S3 * cos[a] ** 2 * other * v_sig + other * (1 - 2 * cos[a] ** 2) * v_pi
            else:
                lmn = l * m * n
                out[..., a, k] = S3 * lmn * v_sig - 2 * lmn * v_pi
    d2 = l**2 - m**2
    out[..., 0, 3] = 0.5 * S3 * l * d2 * v_sig + l * (1 - d2) * v_pi
    out[..., 1, 3] = 0.5 * S3 * m * d2 * v_sig - m * (1 + d2) * v_pi
    out[..., 2, 3] = 0.5 * S3 * n * d2 * v_sig - n * d2 * v_pi
    z2 = n**2 - 0.5 * (l**2 + m**2)
    out[..., 0, 4] = l * z2 * v_sig - S3 * l * n**2 * v_pi
    out[..., 1, 4] = m * z2 * v_sig - S3 * m * n**2 * v_pi
    out[..., 2, 4] = n * z2 * v_sig + S3 * n * (l**2 + m**2) * v_pi
    return out


def _d_d(c, vs, vp, vd):
    """(B, 5, 5) block <d_a | H | d_b> (symmetric in a, b)."""
    l, m, n = c
    out = np.empty(l.shape + (5, 5))
    cos = (l, m, n)
    pairs = ((0, 1), (1, 2), (2, 0))
    for k, (a, b) in enumerate(pairs):  # diagonal xy, yz, zx
        ca, cb = cos[a], cos[b]
        cc = cos[3 - a - b]
        ab2 = ca**2 * cb**2
        out[..., k, k] = 3 * ab2 * vs + (ca**2 + cb**2 - 4 * ab2) * vp + (cc**2 + ab2) * vd
    # off-diagonal among xy, yz, zx: E_{ab, bc} = 3 a b^2 c vs + a c (1 - 4 b^2) vp + a c (b^2 - 1) vd
    for k1, k2 in ((0, 1), (1, 2), (2, 0)):
        a, b = pairs[k1]
        _, c_ = pairs[k2]  # pairs[k2] = (b, c)
        ca, cb, cc = cos[a], cos[b], cos[c_]
        val = 3 * ca * cb**2 * cc * vs + ca * cc * (1 - 4 * cb**2) * vp + ca * cc * (cb**2 - 1) * vd
        out[..., k1, k2] = val
        out[..., k2, k1] = val
    d2 = l**2 - m**2
    z2 = n**2 - 0.5 * (l**2 + m**2)
    e = {}
    e[0, 3] = 1.5 * l * m * d2 * vs + 2 * l * m * (-d2) * vp + 0.5 * l * m * d2 * vd
    e[1, 3] = 1.5 * m * n * d2 * vs - m * n * (1 + 2 * d2) * vp + m * n * (1 + 0.5 * d2) * vd
    e[2, 3] = 1.5 * n * l * d2 * vs + n * l * (1 - 2 * d2) * vp - n * l * (1 - 0.5 * d2) * vd
    e[0, 4] = S3 * l * m * z2 * vs - 2 * S3 * l * m * n**2 * vp + 0.5 * S3 * l * m * (1 + n**2) * vd
    e[1, 4] = S3 * m * n * z2 * vs + S3 * m * n * (l**2 + m**2 - n**2) * vp - 0.5 * S3 * m * n * (l**2 + m**2) * vd
    e[2, 4] = S3 * l * n * z2 * vs + S3 * l * n * (l**2 + m**2 - n**2) * vp - 0.5 * S3 * l * n * (l**2 + m**2) * vd
    e[3, 3] = 0.75 * d2**2 * vs + (l**2 + m**2 - d2**2) * vp + (n**2 + 0.25 * d2**2) * vd
    e[3, 4] = 0.5 * S3 * d2 * z2 * vs + S3 * n**2 * (-d2) * vp + 0.25 * S3 * (1 + n**2) * d2 * vd
    e[4, 4] = z2**2 * vs + 3 * n**2 * (l**2 + m**2) * vp + 0.75 * (l**2 + m**2) ** 2 * vd
    for (a, b), val in e.items():
        out[..., a, b] = val
        out[..., b, a] = val
    return out


def _lower_first(c, v):
    """(B, 9, 9) with every block whose first-atom orbital has l <= the second's (from integrals v)."""
    l, m, n = c
    h = np.zeros(l.shape + (9, 9))
    h[..., 0, 0] = v[..., 0]
    h[..., 0, 1:4] = np.stack([l, m, n], -1) * v[..., 1:2]
    h[..., 0, 4] = S3 * l * m * v[..., 2]
    h[..., 0, 5] = S3 * m * n * v[..., 2]
    h[..., 0, 6] = S3 * n * l * v[..., 2]
    h[..., 0, 7] = 0.5 * S3 * (l**2 - m**2) * v[..., 2]
    h[..., 0, 8] = (n**2 - 0.5 * (l**2 + m**2)) * v[..., 2]
    u = np.stack([l, m, n], -1)
    pp_s, pp_p = v[..., 3, None, None], v[..., 4, None, None]
    h[..., 1:4, 1:4] = u[..., :, None] * u[..., None, :] * (pp_s - pp_p) + np.eye(3) * pp_p
    h[..., 1:4, 4:9] = _p_d(c, v[..., 5], v[..., 6])
    h[..., 4:9, 4:9] = _d_d(c, v[..., 7], v[..., 8], v[..., 9])
    return h


def sk_blocks(vec: np.ndarray, v_ij: np.ndarray, v_ji: np.ndarray | None = None) -> np.ndarray:
    """Hopping blocks <a on i | H | b on j> for bond vectors `vec` (B, 3) from atom i to atom j.

    Returns (B, 9, 9). `v_ij`, `v_ji`: (B, 10) integrals (see the module docstring); `v_ji`
    defaults to `v_ij` (a pair whose integrals do not depend on which atom is first).
    """
    vec = np.asarray(vec, dtype=float)
    c = tuple((vec / np.linalg.norm(vec, axis=-1, keepdims=True)).T)
    v_ji = v_ij if v_ji is None else v_ji
    fwd = _lower_first(c, v_ij)
    rev = _lower_first(c, v_ji)  # E_ba with the lower-l orbital (b) on atom j
    parity = (-1.0) ** (L_OF_ORBITAL[:, None] + L_OF_ORBITAL[None, :])
    upper = L_OF_ORBITAL[:, None] <= L_OF_ORBITAL[None, :]
    return np.where(upper, fwd, parity * np.swapaxes(rev, -1, -2))
