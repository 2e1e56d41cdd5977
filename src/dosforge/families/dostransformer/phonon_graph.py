"""DOSTransformer's phonon-DOS crystal graph and its mean-aggregating processor (notes/dostransformer.md §1, §3).

The published phDOS graph (the e3nn phonon tutorial's, which DOSTransformer reuses):
- nodes: a 118-d one-hot of Z multiplied by the atomic mass (`diag(mass)[Z-1]`);
- edges: all pairs within 4 A, periodic images included, and each atom's self-loop (ASE
  `neighbor_list("ijS", 4.0, self_interaction=True)`); edge i -> j carries r = pos[j] - pos[i] + S.cell and
  messages are aggregated at j;
- edge features (4): smooth_cutoff(|r| / 4) x Y_{l<=1}(r_hat), real spherical harmonics in e3nn's
  'component' normalisation (Y_0 = 1, Y_1 = sqrt(3) r_hat in the order x, y, z; a self-loop has r = 0 and
  gets [1, 0, 0, 0], as e3nn's normalise-with-epsilon gives);
- the processor aggregates messages with the **mean** (the electron graph: sum).
The electron path (data.py, model.py) is untouched: this module adds a graph builder, a collate and a
`MeanProcessorLayer` that `phonon_model` swaps in.
"""

from __future__ import annotations

import numpy as np
import torch

from dosforge.families.dostransformer.data import GraphBatch, GraphSample
from dosforge.families.dostransformer.model import DOSTransformer, DOSTransformerConfig, ProcessorLayer
from dosforge.split import SYSTEM_INDEX, crystal_system

PHONON_RADIUS = 4.0  # A, r_max of the published phDOS graph
N_ELEMENTS = 118  # one-hot width
EDGE_DIM = 4  # Y_0 and the three Y_1 components, each times the smooth cutoff
PHONON_POINTS = 51  # 0-1000 cm^-1 (supplement A.1)


def smooth_cutoff(x: np.ndarray) -> np.ndarray:
    """1 below 0.5, (1 - cos(2 pi (x - 1))) / 2 between 0.5 and 1, 0 above 1 (flat to 2 A, 0 at 4 A)."""
    x = np.asarray(x, np.float64)
    mid = (1.0 - np.cos(np.pi * 2.0 * (x - 1.0))) / 2.0
    return np.where(x < 0.5, 1.0, np.where(x > 1.0, 0.0, mid))


def edge_features(vectors: np.ndarray, radius: float = PHONON_RADIUS) -> np.ndarray:
    """(E, 4): smooth_cutoff(|r| / radius) * [Y_0, Y_1x, Y_1y, Y_1z] ('component' normalisation)."""
    vectors = np.asarray(vectors, np.float64).reshape(-1, 3)
    length = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.maximum(length, 1e-12)[:, None]  # r = 0 (self-loop) -> 0, as e3nn's normalisation
    sh = np.concatenate([np.ones((len(vectors), 1)), np.sqrt(3.0) * unit], axis=1)
    return (smooth_cutoff(length / radius)[:, None] * sh).astype(np.float32)


def mass_one_hot(z: np.ndarray) -> np.ndarray:
    """(n, 118): one-hot of Z times the atomic mass in u."""
    from pymatgen.core.periodic_table import Element

    z = np.asarray(z, np.int64)
    out = np.zeros((len(z), N_ELEMENTS), np.float32)
    out[np.arange(len(z)), z - 1] = [float(Element.from_Z(int(k)).atomic_mass) for k in z]
    return out


def phonon_graph(structure, radius: float = PHONON_RADIUS) -> dict[str, np.ndarray]:
    """All pairs within `radius` (images included) plus self-loops: `src`, `dst` (E,), `vec` (E, 3) = r_dst - r_src."""
    centre, neigh, images, dist = structure.get_neighbor_list(radius)  # excludes the zero-distance self pair
    cart = structure.cart_coords
    vec = cart[neigh] + images @ structure.lattice.matrix - cart[centre]
    n = len(structure)
    src = np.concatenate([centre, np.arange(n)]).astype(np.int64)
    dst = np.concatenate([neigh, np.arange(n)]).astype(np.int64)
    vec = np.concatenate([vec, np.zeros((n, 3))])
    order = np.lexsort((*vec.T[::-1], dst, src))  # a fixed edge order, whatever the neighbour search returned
    return {"src": src[order], "dst": dst[order], "vec": vec[order]}


def phonon_sample(structure, point_group: str | None = None, radius: float = PHONON_RADIUS) -> GraphSample:
    g = phonon_graph(structure, radius)
    if point_group is None:
        from dosforge.preprocess.symmetry import point_group as find_point_group

        point_group = find_point_group(structure)[0]
    return GraphSample(
        z=np.array([site.specie.Z for site in structure], np.int64),
        src=g["src"],
        dst=g["dst"],
        edge_attr=edge_features(g["vec"], radius),
        system=SYSTEM_INDEX[crystal_system(point_group)],
    )


def collate_phonon(samples: list[GraphSample], targets: np.ndarray | None = None) -> GraphBatch:
    """A batch with mass-weighted one-hot nodes (the electron `collate` uses matscholar rows)."""
    n = np.array([len(s.z) for s in samples], np.int64)
    offsets = np.concatenate([[0], np.cumsum(n)[:-1]])
    return GraphBatch(
        x=torch.from_numpy(mass_one_hot(np.concatenate([s.z for s in samples]))),
        edge_attr=torch.from_numpy(np.concatenate([s.edge_attr for s in samples])),
        src=torch.from_numpy(np.concatenate([s.src + o for s, o in zip(samples, offsets, strict=True)])),
        dst=torch.from_numpy(np.concatenate([s.dst + o for s, o in zip(samples, offsets, strict=True)])),
        node_graph=torch.from_numpy(np.repeat(np.arange(len(samples)), n)),
        slot=torch.from_numpy(np.concatenate([np.arange(k) for k in n])),
        n_atoms=torch.from_numpy(n),
        system=torch.tensor([s.system for s in samples], dtype=torch.int64),
        target=None if targets is None else torch.as_tensor(np.asarray(targets, np.float32)),
    )


class MeanProcessorLayer(ProcessorLayer):
    """The electron processor with the mean over incoming edges instead of the sum (phDOS, notes §1 table)."""

    def forward(self, h, b, src, dst):
        b_new = self.edge_mlp(torch.cat([h[src], h[dst], b], dim=-1))
        total = torch.zeros_like(h).index_add_(0, dst, b_new)
        degree = torch.zeros(h.shape[0], dtype=h.dtype, device=h.device).index_add_(
            0, dst, torch.ones_like(dst, dtype=h.dtype)
        )
        agg = total / degree.clamp(min=1.0)[:, None]
        h_new = self.node_mlp(torch.cat([h, agg], dim=-1))
        return h + h_new, b + b_new


def phonon_config(**overrides) -> DOSTransformerConfig:
    """The phDOS shape: 51 frequency tokens, 118-d mass one-hot atoms, 4-d edges (d etc. as given)."""
    return DOSTransformerConfig(
        **{"n_tokens": PHONON_POINTS, "atom_dim": N_ELEMENTS, "edge_dim": EDGE_DIM, **overrides}
    )


def phonon_model(config: DOSTransformerConfig) -> DOSTransformer:
    """DOSTransformer with mean-aggregating processors (same parameter shapes as the sum version)."""
    model = DOSTransformer(config)
    model.processor = torch.nn.ModuleList(MeanProcessorLayer(config.d) for _ in range(config.mp_layers))
    return model
