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

import warnings

import numpy as np
import spglib
from pymatgen.core import Structure
from pymatgen.optimization.neighbors import find_points_in_spheres

# spglib (2.x) emits a DeprecationWarning about its error-handling mode on every call; it says nothing about
# our inputs. Filter exactly that message once here (a catch_warnings block per call costs more than the call).
warnings.filterwarnings("ignore", message="Set OLD_ERROR_HANDLING", category=DeprecationWarning)

TIE_TOL = 1e-5  # A: neighbours this close to the k-th distance count as ties
SYMPREC = 1e-3  # A: tolerance for a translation to map an atom onto an equivalent one
MAX_EXPANSIONS = 8  # radius growth steps before giving up (8 doublings = 256x the cutoff)
NEIGHBOR_MARGIN = 1.5  # first radius holds ~1.5 k atoms at the cell's mean density (see _knn_edges)
GRAPH_KEYS = ("edge_index", "edge_vec", "lattice_vecs")


class GraphError(ValueError):
    """The structure cannot be turned into a crystal graph; the message says why."""


class _Cell:
    """The arrays of a structure that graph building needs, extracted once."""

    def __init__(self, structure: Structure):
        self.matrix = np.ascontiguousarray(structure.lattice.matrix, dtype=float)
        self.frac = np.asarray(structure.frac_coords, dtype=float)
        self.cart = np.ascontiguousarray(self.frac @ self.matrix)
        self.z = np.asarray(structure.atomic_numbers, dtype=np.int64)
        self.abc = np.linalg.norm(self.matrix, axis=1)
        self.volume = abs(float(np.linalg.det(self.matrix)))


def pure_translations(cell: _Cell) -> np.ndarray:
    """Fractional translations (in the given cell, including 0) that map the crystal onto itself."""
    frac, z = cell.frac, cell.z
    species, counts = np.unique(z, return_counts=True)
    rare = species[np.argmin(counts)]  # a translation carries a rarest-species atom onto one of its own kind
    ref = frac[z == rare]
    cand = ref - ref[0]
    if len(cand) == 1:
        return np.zeros((1, 3))  # that species occurs once: only the cell's own translations
    same = z[None, :] == z[:, None]  # (n, n)
    ok = np.empty(len(cand), dtype=bool)
    step = max(1, 2_000_000 // (3 * len(z) ** 2))  # bound the (m, n, n, 3) work array for large cells
    for lo in range(0, len(cand), step):
        delta = frac[None, :, None, :] + cand[lo : lo + step, None, None, :] - frac[None, None, :, :]
        off = np.linalg.norm((delta - np.rint(delta)) @ cell.matrix, axis=-1)
        off = np.where(same[None], off, np.inf)
        ok[lo : lo + step] = (off.min(-1) < SYMPREC).all(-1)  # every atom lands on an atom of its species
    return cand[ok] - np.floor(cand[ok] + 1e-9)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a x b along the last axis (np.cross's axis handling costs more than the product for 3-vectors)."""
    return np.stack(
        [
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ],
        axis=-1,
    )


def _first(mask: np.ndarray, what: str) -> int:
    if not mask.any():
        raise GraphError(f"could not find {what} among the lattice points (degenerate cell?)")
    return int(np.argmax(mask))


def invariant_lattice_vectors(structure: Structure | _Cell) -> np.ndarray:
    """Rows l1, l2, l3 (Cartesian, A): a reduced basis of the primitive lattice in iComFormer's sign convention.

    If the pure translations found within tolerance do not form a lattice (near-symmetric, noisy positions),
    the given cell's own lattice is used instead, as the published code does.
    """
    cell = structure if isinstance(structure, _Cell) else _Cell(structure)
    trans = pure_translations(cell)
    try:
        return _reduced_basis(cell, trans)
    except _NotALattice:
        return _reduced_basis(cell, np.zeros((1, 3)))


class _NotALattice(GraphError):
    pass


def _reduced_basis(cell: _Cell, trans: np.ndarray) -> np.ndarray:
    # Lattice points near the origin (published: self-images of atom 0 within max(a, b, c) + 0.01 A),
    # here of the primitive lattice: the given cell's points plus its internal pure translations.
    _, points, images, dist = find_points_in_spheres(
        np.ascontiguousarray(trans @ cell.matrix),
        np.zeros((1, 3)),
        r=float(cell.abc.max()) + 1e-2,
        pbc=np.ones(3, dtype=np.int64),
        lattice=cell.matrix,
        tol=1e-8,
    )
    keep = dist > 1e-6
    frac, dist = trans[points[keep]] + images[keep], dist[keep]
    # Sort by length; equal lengths (within 1e-6 A) by fractional coordinates, which a rotation or translation
    # of the input does not change -- so ties never depend on floating-point noise (published: list order).
    key = np.rint(frac * 1e6)
    order = np.lexsort((key[:, 2], key[:, 1], key[:, 0], np.rint(dist * 1e6)))
    cart = (frac @ cell.matrix)[order]
    lengths2 = np.einsum("ij,ij->i", cart, cart)
    l1 = cart[0]
    cross1 = _cross(l1, cart)
    l2 = cart[_first(np.einsum("ij,ij->i", cross1, cross1) > 1e-10 * (l1 @ l1 + lengths2) ** 2, "a second direction")]
    normal = _cross(l1, l2)
    l3 = cart[_first((cart @ normal) ** 2 > 1e-10 * (normal @ normal) * lengths2, "a third direction")]
    # The shortest non-coplanar vectors are a basis in 3-D; Niggli reduction then makes the choice canonical.
    reduced = spglib.niggli_reduce(np.array([l1, l2, l3]))
    if reduced is None:
        raise GraphError("Niggli reduction of the lattice failed (degenerate cell?)")
    l1, l2, l3 = np.asarray(reduced, dtype=float)
    triple = float(_cross(l1, l2) @ l3)
    if abs(abs(triple) * len(trans) - cell.volume) > 1e-3 * cell.volume:
        raise _NotALattice
    # Published "invariant corner": l2 and l3 make an angle of at most 90 degrees with l1 ...
    if l1 @ l2 < 0:
        l2 = -l2
    if l1 @ l3 < 0:
        l3 = -l3
    # ... and the frame is right-handed (published `correct_coord_sys`), else all three flip.
    if float(_cross(l1, l2) @ l3) < 0:
        l1, l2, l3 = -l1, -l2, -l3
    return np.array([l1, l2, l3])


def _neighbors(cell: _Cell, radius: float):
    center, neighbor, images, dist = find_points_in_spheres(
        cell.cart, cell.cart, r=radius, pbc=np.ones(3, dtype=np.int64), lattice=cell.matrix, tol=1e-8
    )
    keep = ~((center == neighbor) & (dist <= 1e-8))  # not the atom itself
    return center[keep], neighbor[keep], images[keep], dist[keep]


def _knn_edges(cell: _Cell, cutoff: float, max_neighbors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, image) of each atom's k nearest neighbours (ties kept).

    Published: search within `cutoff`; while some atom has fewer than k neighbours, grow the radius to
    max(a, b, c), then keep doubling; keep each atom's k nearest. The result is the k-nearest-neighbour set
    whatever the radius, so we start at max(cutoff, the radius holding ~1.5 k atoms at the cell's density)
    to save the usual failed first search, and double from there.
    """
    n = len(cell.z)
    radius = max(cutoff, (3 * NEIGHBOR_MARGIN * max_neighbors * cell.volume / (4 * np.pi * n)) ** (1 / 3))
    for _ in range(MAX_EXPANSIONS + 1):
        center, neighbor, images, dist = _neighbors(cell, radius)
        if np.bincount(center, minlength=n).min() >= max_neighbors:
            break
        radius *= 2
    else:
        raise GraphError(f"fewer than {max_neighbors} neighbours for some atom even within {radius / 2:.1f} A")
    order = np.lexsort((dist, center))  # by atom, then by distance
    center, neighbor, images, dist = center[order], neighbor[order], images[order], dist[order]
    start = np.searchsorted(center, np.arange(n))
    kth = dist[start + max_neighbors - 1]  # distance to each atom's k-th neighbour
    keep = dist <= kth[center] + TIE_TOL
    return center[keep], neighbor[keep], np.rint(images[keep]).astype(np.int64)


def _lattice_edges(cell: _Cell, lattice_vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, image) joining every atom to its translate by each l_k (itself in a primitive cell)."""
    frac, z = cell.frac, cell.z
    n = len(frac)
    shifts = np.linalg.solve(cell.matrix.T, lattice_vecs.T).T  # (3, 3) fractional in the given cell
    whole = np.rint(shifts)
    if np.abs(shifts - whole).max() < 1e-6:  # the given cell is primitive: each l_k is a self-loop
        return np.repeat(np.arange(n), 3), np.repeat(np.arange(n), 3), np.tile(whole.astype(np.int64), (n, 1))
    target = frac[:, None, :] + shifts[None, :, :]  # (n, 3, 3)
    delta = target[:, :, None, :] - frac[None, None, :, :]  # (n, 3, n, 3)
    residual = np.linalg.norm((delta - np.rint(delta)) @ cell.matrix, axis=-1)  # (n, 3, n)
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
    cell = _Cell(structure)
    if cell.volume < 1e-3:
        raise GraphError(f"lattice volume {cell.volume:.3g} A^3 is degenerate")
    lattice_vecs = invariant_lattice_vectors(cell)
    s1, d1, i1 = _knn_edges(cell, cutoff, max_neighbors)
    s2, d2, i2 = _lattice_edges(cell, lattice_vecs)
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
    vec = (cell.frac[dst] + img - cell.frac[src]) @ cell.matrix
    if np.linalg.norm(vec, axis=1).min() < 0.1:
        raise GraphError("two atoms closer than 0.1 A (overlapping sites)")
    return {
        "edge_index": np.stack([src, dst], axis=1).astype(np.int64),
        "edge_vec": vec.astype(np.float32),
        "lattice_vecs": lattice_vecs.astype(np.float32),
    }
