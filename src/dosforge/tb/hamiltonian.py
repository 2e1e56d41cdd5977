"""Real-space TB Hamiltonian H(R) of a crystal and its Bloch sum H(k).

Hoppings follow Harrison's universal law (notes/tight-binding.md): V = eta hbar^2/(m d^2) for s/p
(1999 coefficients), V = eta hbar^2/m r_d^1.5 / d^3.5 for sd/pd and eta hbar^2/m (r_di r_dj)^1.5 / d^5
for dd. Harrison's law is a nearest-neighbour law, so each pair is tapered smoothly (cosine) between
`taper[0]` and `taper[1]` times the larger of the two atoms' nearest-neighbour distances. s/p
hoppings are scaled by sqrt(4 / Z_eff) (Z_eff: tapered coordination) so close-packed metals are not
twice too broad; we use the symmetric pair factor (4/Z_i)^1/4 (4/Z_j)^1/4 and never scale up
(Z_eff below 4 counts as 4), a choice of ours: a two-fold coordinated atom keeps Harrison's value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure

from dosforge.tb.orbitals import Species, species
from dosforge.tb.slater_koster import L_OF_ORBITAL, sk_blocks

HBAR2_M = 7.62  # eV Angstrom^2
ETA = {  # Harrison 1999 (s, p) and Solid State Table (d) coefficients, order of slater_koster.INTEGRALS
    "ss_sigma": -1.32, "sp_sigma": 1.42, "sd_sigma": -3.16, "pp_sigma": 2.22, "pp_pi": -0.63,
    "pd_sigma": -2.95, "pd_pi": 1.36, "dd_sigma": -16.2, "dd_pi": 8.75, "dd_delta": -2.39,
}  # fmt: skip
_ETA = np.array(list(ETA.values()))
_SP = np.array([1, 1, 0, 1, 1, 0, 0, 0, 0, 0], dtype=bool)  # integrals scaled by coordination


@dataclass
class TightBinding:
    """Everything H(k) needs: H(R) blocks on the compact orbital basis, plus the basis bookkeeping."""

    h_r: np.ndarray  # (nR, norb, norb) real
    images: np.ndarray  # (nR, 3) integer lattice vectors
    orbital_atom: np.ndarray  # (norb,) atom index of each orbital
    orbital_element: np.ndarray  # (norb,) index into `elements`
    elements: list[str]  # sorted by Z
    n_electrons: int
    z_eff: np.ndarray  # (n_atoms,) tapered coordination

    @property
    def n_orb(self) -> int:
        return self.h_r.shape[1]

    def h_k(self, kpts: np.ndarray) -> np.ndarray:
        """H(k) for fractional k-points (nk, 3): sum_R H(R) exp(2 pi i k.R); (nk, norb, norb) complex."""
        phase = np.exp(2j * np.pi * (np.asarray(kpts, dtype=float) @ self.images.T))
        n = self.n_orb
        return (phase @ self.h_r.reshape(len(self.images), n * n)).reshape(-1, n, n)


def taper_weight(d: np.ndarray, r_nn: np.ndarray, taper: tuple[float, float]) -> np.ndarray:
    """1 below taper[0] * r_nn, 0 above taper[1] * r_nn, a half cosine in between."""
    lo, hi = taper[0] * r_nn, taper[1] * r_nn
    t = np.clip((d - lo) / (hi - lo), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * t))


def _nearest_neighbour_distances(structure: Structure) -> np.ndarray:
    r = 4.0
    while True:
        ci, _, _, dist = structure.get_neighbor_list(r)
        dnn = np.full(len(structure), np.inf)
        np.minimum.at(dnn, ci, dist)
        if np.isfinite(dnn).all():
            return dnn
        r *= 1.5
        if r > 30:
            raise ValueError("an atom has no neighbour within 30 Angstrom: not a crystal the TB model can label")


def _integrals(d: np.ndarray, sp_i: list[Species], sp_j: list[Species]) -> tuple[np.ndarray, np.ndarray]:
    """Harrison integrals (B, 10) with the lower-l orbital on atom i (v_ij) and on atom j (v_ji)."""
    rd_i = np.array([s.r_d if s.has_d else 0.0 for s in sp_i])
    rd_j = np.array([s.r_d if s.has_d else 0.0 for s in sp_j])
    base = _ETA * HBAR2_M
    v_ij = np.empty((len(d), 10))
    v_ij[:, _SP] = base[_SP] / d[:, None] ** 2
    v_ji = v_ij.copy()
    v_ij[:, [2, 5, 6]] = base[[2, 5, 6]] * (rd_j**1.5 / d**3.5)[:, None]  # d orbital on atom j
    v_ji[:, [2, 5, 6]] = base[[2, 5, 6]] * (rd_i**1.5 / d**3.5)[:, None]  # d orbital on atom i
    dd = base[7:] * ((rd_i * rd_j) ** 1.5 / d**5)[:, None]
    v_ij[:, 7:] = dd
    v_ji[:, 7:] = dd
    return v_ij, v_ji


def build_tight_binding(structure: Structure, taper: tuple[float, float] = (1.15, 1.40), z_ref: float = 4.0):
    """Assemble H(R) for `structure` (ordered, every element supported by `orbitals.species`)."""
    if not structure.is_ordered:
        raise ValueError("disordered structure: the TB model needs one element per site")
    sp = [species(site.specie.symbol) for site in structure]
    elements = sorted({s.symbol for s in sp}, key=lambda e: species(e).z)
    dnn = _nearest_neighbour_distances(structure)
    ci, pj, offsets, dist = structure.get_neighbor_list(float(taper[1] * dnn.max()) + 1e-6)
    w = taper_weight(dist, np.maximum(dnn[ci], dnn[pj]), taper)
    keep = w > 0
    ci, pj, offsets, dist, w = ci[keep], pj[keep], np.rint(offsets[keep]).astype(int), dist[keep], w[keep]
    z_eff = np.bincount(ci, weights=w, minlength=len(structure))
    # bond vectors from atom i (home cell) to atom j in image R
    cart = structure.cart_coords
    vec = cart[pj] + offsets @ structure.lattice.matrix - cart[ci]
    v_ij, v_ji = _integrals(dist, [sp[i] for i in ci], [sp[j] for j in pj])
    scale = (z_ref / np.maximum(z_eff, z_ref)) ** 0.25
    pair = scale[ci] * scale[pj] * w
    v_ij[:, _SP] *= pair[:, None]
    v_ji[:, _SP] *= pair[:, None]
    v_ij[:, ~_SP] *= w[:, None]
    v_ji[:, ~_SP] *= w[:, None]
    blocks = sk_blocks(vec, v_ij, v_ji)  # (B, 9, 9) on the padded 9-orbital basis

    # compact orbital index: padded (atom, orbital) -> position in the basis, -1 where absent
    present = np.zeros((len(sp), 9), dtype=bool)
    for a, s in enumerate(sp):
        present[a] = [True] + [s.has_p] * 3 + [s.has_d] * 5
    compact = np.full(present.shape, -1)
    compact[present] = np.arange(present.sum())
    n = int(present.sum())
    images, r_idx = np.unique(np.vstack([np.zeros((1, 3), int), offsets]), axis=0, return_inverse=True)
    r_idx = r_idx.ravel()
    zero = int(r_idx[0])
    r_idx = r_idx[1:]
    rows = np.broadcast_to(compact[ci][:, :, None], blocks.shape)
    cols = np.broadcast_to(compact[pj][:, None, :], blocks.shape)
    valid = (rows >= 0) & (cols >= 0)
    flat = (np.broadcast_to(r_idx[:, None, None], rows.shape)[valid] * n + rows[valid]) * n + cols[valid]
    h_r = np.bincount(flat, weights=blocks[valid], minlength=len(images) * n * n).reshape(len(images), n, n)
    onsite = np.concatenate([s.onsite for s in sp])
    h_r[zero][np.diag_indices(n)] += onsite
    orbital_atom = np.nonzero(present)[0]
    el_index = {e: k for k, e in enumerate(elements)}
    orbital_element = np.array([el_index[sp[a].symbol] for a in orbital_atom])
    n_el = sum(s.valence for s in sp)
    return TightBinding(h_r, images, orbital_atom, orbital_element, elements, n_el, z_eff)


__all__ = ["ETA", "HBAR2_M", "L_OF_ORBITAL", "TightBinding", "build_tight_binding", "taper_weight"]
