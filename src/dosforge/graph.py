"""The iComFormer crystal graph (Yan et al., ICLR 2024), built once per structure at preprocess time.

Published construction (ComFormer `nearest_neighbor_edges_submit` + `build_undirected_edgedata`):
- every atom keeps its `max_neighbors` (25) nearest neighbours, ties at the k-th distance included,
  searched within `cutoff` (4 A); when some atom has fewer than k neighbours inside the cutoff the
  search radius grows to max(a, b, c), or doubles once it already exceeds that, until all have k;
- the edge set is made undirected (u->v with r and v->u with -r, deduplicated);
- "lattice correction": three invariant lattice vectors l1, l2, l3 (shortest non-coplanar lattice
  translations; l2, l3 flipped to make an acute angle with l1; all flipped to make a right-handed
  frame) are added as self-loop edges of every atom, and every edge carries them (`edge_nei`), so the
  model can form lengths |l_k| and cosines between the edge vector and each l_k.

We store raw geometry only (edge index, edge vectors, the three lattice vectors); RBF and angle
features are computed in the model (`dosforge.model.features`), so their sizes stay model params.

Departures (see docs/model.md):
- the invariant lattice vectors are the shortest non-coplanar vectors of the *primitive* lattice (the given
  cell's translations plus its internal pure translations), Niggli-reduced (spglib) to make ties canonical,
  not the self-images of atom 0 in the given cell, so a supercell of a crystal gets the same vectors
  as its primitive cell; in a supercell a lattice "self-loop" therefore joins an atom to its
  translate by l_k (an equivalent atom), which is the same edge the primitive cell has;
- kNN ties use a 1e-5 A tolerance (published: exact float comparison) so that a rotated copy of a
  structure keeps the same neighbours;
- a directed edge (src, dst, image) appears once (the published closure duplicates self-image edges).

Returned arrays (axis 0 is what the shards store raggedly):
- `edge_index` int64 (E, 2): [source, destination] atom indices local to the structure;
- `edge_vec` float32 (E, 3): Cartesian vector from the source atom to the destination's periodic image (A);
- `lattice_vecs` float32 (3, 3): the invariant lattice vectors l1, l2, l3 as rows (fixed count 3).
"""

from __future__ import annotations

import numpy as np
import spglib
from pymatgen.core import Structure

TIE_TOL = 1e-5  # A: neighbours this close to the k-th distance count as ties
SYMPREC = 1e-3  # A: tolerance for a translation to map an atom onto an equivalent one
MAX_EXPANSIONS = 8  # radius growth steps before giving up (8 doublings = 256x the cutoff)
GRAPH_KEYS = ("edge_index", "edge_vec", "lattice_vecs")


class GraphError(ValueError):
    """The structure cannot be turned into a crystal graph; the message says why."""


def pure_translations(structure: Structure) -> np.ndarray:
    """Fractional translations (in the given cell, including 0) that map the crystal onto itself."""
    frac = structure.frac_coords
    z = np.asarray(structure.atomic_numbers)
    cand = frac[z == z[0]] - frac[0]  # a translation must carry atom 0 onto an atom of its species
    delta = frac[None, :, None, :] + cand[:, None, None, :] - frac[None, None, :, :]  # (m, n, n, 3)
    off = np.linalg.norm((delta - np.rint(delta)) @ structure.lattice.matrix, axis=-1)
    off = np.where(z[None, None, :] == z[None, :, None], off, np.inf)
    ok = (off.min(-1) < SYMPREC).all(-1)  # every atom lands on an atom of its species
    return cand[ok] - np.floor(cand[ok] + 1e-9)


def invariant_lattice_vectors(structure: Structure) -> np.ndarray:
    """Rows l1, l2, l3 (Cartesian, A): a reduced basis of the primitive lattice in iComFormer's sign convention."""
    lat = structure.lattice
    trans = pure_translations(structure)
    # Lattice points near the origin (published: self-images of atom 0 within max(a, b, c) + 0.01 A),
    # here of the primitive lattice: the given cell's points plus its internal pure translations.
    pts = lat.get_points_in_sphere(trans, np.zeros(3), max(lat.abc) + 1e-2, zip_results=False)
    cart = lat.get_cartesian_coords(np.asarray(pts[0]))
    length = np.linalg.norm(cart, axis=1)
    nonzero = length > 1e-6
    cart, length = cart[nonzero], length[nonzero]
    cart = cart[np.argsort(length, kind="stable")]
    l1 = cart[0]
    l2 = next(v for v in cart[1:] if np.linalg.norm(np.cross(l1, v)) > 1e-5 * (l1 @ l1 + v @ v))
    normal = np.cross(l1, l2)
    l3 = next(v for v in cart[1:] if abs(normal @ v) > 1e-5 * np.linalg.norm(normal) * np.linalg.norm(v))
    # The shortest non-coplanar vectors are a basis in 3-D; Niggli reduction then makes the choice canonical.
    reduced = spglib.niggli_reduce(np.stack([l1, l2, l3]))
    if reduced is None:
        raise GraphError("Niggli reduction of the lattice failed (degenerate cell?)")
    l1, l2, l3 = np.asarray(reduced, dtype=float)
    if abs(abs(np.cross(l1, l2) @ l3) * len(trans) - lat.volume) > 1e-3 * lat.volume:
        raise GraphError("could not find a primitive lattice basis (inconsistent pure translations)")
    # Published "invariant corner": l2 and l3 make an angle of at most 90 degrees with l1 ...
    if l1 @ l2 < 0:
        l2 = -l2
    if l1 @ l3 < 0:
        l3 = -l3
    # ... and the frame is right-handed (published `correct_coord_sys`), else all three flip.
    if np.cross(l1, l2) @ l3 < 0:
        l1, l2, l3 = -l1, -l2, -l3
    return np.stack([l1, l2, l3])


def _knn_edges(structure: Structure, cutoff: float, max_neighbors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, image) of each atom's k nearest neighbours (ties kept), with the published radius fallback."""
    n = len(structure)
    radius = cutoff
    lat = structure.lattice
    for _ in range(MAX_EXPANSIONS + 1):
        center, neighbor, images, dist = structure.get_neighbor_list(radius)
        if n and np.bincount(center, minlength=n).min() >= max_neighbors:
            break
        radius = max(lat.a, lat.b, lat.c) if radius < max(lat.a, lat.b, lat.c) else 2 * radius
    else:
        raise GraphError(f"fewer than {max_neighbors} neighbours for some atom even within {radius / 2:.1f} A")
    order = np.lexsort((dist, center))  # by atom, then by distance
    center, neighbor, images, dist = center[order], neighbor[order], images[order], dist[order]
    start = np.searchsorted(center, np.arange(n))
    kth = dist[start + max_neighbors - 1]  # distance to each atom's k-th neighbour
    keep = dist <= kth[center] + TIE_TOL
    return center[keep], neighbor[keep], np.rint(images[keep]).astype(np.int64)


def _lattice_edges(structure: Structure, lattice_vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, image) joining every atom to its translate by each l_k (itself in a primitive cell)."""
    frac = structure.frac_coords
    n = len(frac)
    shifts = structure.lattice.get_fractional_coords(lattice_vecs)  # (3, 3) fractional in the given cell
    target = frac[:, None, :] + shifts[None, :, :]  # (n, 3, 3)
    delta = target[:, :, None, :] - frac[None, None, :, :]  # (n, 3, n, 3)
    mismatch = (delta - np.rint(delta)) @ structure.lattice.matrix  # Cartesian offset from a lattice point
    residual = np.linalg.norm(mismatch, axis=-1)  # (n, 3, n)
    z = np.asarray(structure.atomic_numbers)
    residual = np.where(z[None, None, :] == z[:, None, None], residual, np.inf)  # only the same species
    dst = residual.argmin(-1)  # (n, 3)
    if (np.take_along_axis(residual, dst[..., None], -1)[..., 0] > 10 * SYMPREC).any():
        raise GraphError("a lattice translation does not map the crystal onto itself (inconsistent primitive cell)")
    src = np.repeat(np.arange(n), 3)
    dst = dst.reshape(-1)
    image = np.rint(target.reshape(-1, 3) - frac[dst]).astype(np.int64)
    return src, dst, image


def build_graph(structure: Structure, cutoff: float = 4.0, max_neighbors: int = 25) -> dict[str, np.ndarray]:
    """The iComFormer graph of `structure` as raw geometry (see the module docstring for the arrays)."""
    n = len(structure)
    if n == 0:
        raise GraphError("structure has no atoms")
    if cutoff <= 0 or max_neighbors < 1:
        raise GraphError(f"need cutoff > 0 and max_neighbors >= 1, got cutoff={cutoff}, max_neighbors={max_neighbors}")
    if structure.lattice.volume < 1e-3:
        raise GraphError(f"lattice volume {structure.lattice.volume:.3g} A^3 is degenerate")
    lattice_vecs = invariant_lattice_vectors(structure)
    s1, d1, i1 = _knn_edges(structure, cutoff, max_neighbors)
    s2, d2, i2 = _lattice_edges(structure, lattice_vecs)
    src = np.concatenate([s1, s2])
    dst = np.concatenate([d1, d2])
    img = np.concatenate([i1, i2])
    # Undirected closure as published: every u->v (image m) also gives v->u (image -m).
    src, dst, img = np.concatenate([src, dst]), np.concatenate([dst, src]), np.concatenate([img, -img])
    # Deduplicate directed edges with one integer key per (src, dst, image); np.unique also sorts them.
    base = 2 * int(np.abs(img).max(initial=0)) + 1
    shifted = img + base // 2
    key = ((src * n + dst) * base + shifted[:, 0]) * base * base + shifted[:, 1] * base + shifted[:, 2]
    _, first = np.unique(key, return_index=True)
    src, dst, img = src[first], dst[first], img[first]
    frac = structure.frac_coords
    vec = structure.lattice.get_cartesian_coords(frac[dst] + img - frac[src])
    if np.linalg.norm(vec, axis=1).min() < 0.1:
        raise GraphError("two atoms closer than 0.1 A (overlapping sites)")
    return {
        "edge_index": np.stack([src, dst], axis=1).astype(np.int64),
        "edge_vec": vec.astype(np.float32),
        "lattice_vecs": lattice_vecs.astype(np.float32),
    }
