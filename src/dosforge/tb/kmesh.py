"""Gamma-centred Monkhorst-Pack meshes, reduced by crystal symmetry (spglib) or, as a fallback,
by time reversal alone (H(-k) = H(k)* for a real H(R), so E(k) = E(-k))."""

from __future__ import annotations

import numpy as np
import spglib
from pymatgen.core import Structure


def mesh_for_density(structure: Structure, kppra: float) -> tuple[int, int, int]:
    """Subdivisions n_i proportional to |b_i| with n1 n2 n3 ~ kppra / n_atoms (k-points per reciprocal atom)."""
    b = np.linalg.norm(structure.lattice.reciprocal_lattice.matrix, axis=1)
    target = max(kppra / len(structure), 1.0)
    s = (target / np.prod(b)) ** (1.0 / 3.0)
    return tuple(int(max(1, round(x))) for x in b * s)


def full_mesh(mesh) -> np.ndarray:
    """All points of a Gamma-centred mesh as integer addresses (n, 3), C order."""
    axes = [np.arange(n) for n in mesh]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def _time_reversal_reduced(mesh) -> tuple[np.ndarray, np.ndarray]:
    mesh = np.asarray(mesh)
    addr = full_mesh(mesh)
    flat = (addr[:, 0] * mesh[1] + addr[:, 1]) * mesh[2] + addr[:, 2]
    neg = (-addr) % mesh
    flat_neg = (neg[:, 0] * mesh[1] + neg[:, 1]) * mesh[2] + neg[:, 2]
    rep = np.minimum(flat, flat_neg)
    uniq, counts = np.unique(rep, return_counts=True)
    return addr[uniq], counts


def reduced_kpoints(structure: Structure, mesh, symprec: float = 1e-5, use_symmetry: bool = True):
    """Irreducible k-points (fractional, (nk, 3)), weights summing to 1, and how they were reduced."""
    mesh = tuple(int(n) for n in mesh)
    method = "time_reversal"
    result = None
    if use_symmetry:
        cell = (structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers)
        try:
            result = spglib.get_ir_reciprocal_mesh(mesh, cell, is_shift=[0, 0, 0], symprec=symprec)
        except Exception:  # spglib occasionally fails on a cell; time reversal is always valid
            result = None
    if result is not None:
        mapping, grid = result
        uniq, counts = np.unique(mapping, return_counts=True)
        addr = grid[uniq]
        method = "spglib"
    else:
        addr, counts = _time_reversal_reduced(mesh)
    kpts = addr / np.asarray(mesh, dtype=float)
    kpts -= np.rint(kpts)  # into (-1/2, 1/2]: the same points, smaller phases
    return kpts, counts / counts.sum(), method
