"""Graphs of processed materials and their batches for DOSTransformer.

The CGCNN-style graphs (features.cgcnn_graph) are built from the structures stored in the processed shards (the
same structures DOSForge trains on), once per run, in memory; `GraphBatch` concatenates materials with the index
arrays the model needs (`node_graph`, `slot` for the dense padded layout, offset `src`/`dst`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from dosforge.families.dostransformer.features import (
    GAUSSIAN_STEP,
    MAX_NEIGHBORS,
    RADIUS,
    cgcnn_graph,
    gaussian_expand,
    matscholar_table,
    structure_from_arrays,
)
from dosforge.split import SYSTEM_INDEX, crystal_system


@dataclass
class GraphSample:
    z: np.ndarray  # (n,)
    src: np.ndarray  # (E,)
    dst: np.ndarray
    edge_attr: np.ndarray  # (E, 41)
    system: int  # 0..6 (dosforge.split.CRYSTAL_SYSTEMS order)


def sample_from_structure(structure, point_group: str | None = None, graph: dict | None = None) -> GraphSample:
    """One material's graph; `point_group` (default: spglib's via dosforge.preprocess.symmetry) -> crystal system."""
    graph = graph or {}
    radius = float(graph.get("radius", RADIUS))
    g = cgcnn_graph(structure, radius, int(graph.get("max_neighbors", MAX_NEIGHBORS)))
    if point_group is None:
        from dosforge.preprocess.symmetry import point_group as find_point_group

        point_group = find_point_group(structure)[0]
    return GraphSample(
        z=np.array([site.specie.Z for site in structure], np.int64),
        src=g["src"],
        dst=g["dst"],
        edge_attr=gaussian_expand(g["dist"], radius, float(graph.get("gaussian_step", GAUSSIAN_STEP))),
        system=SYSTEM_INDEX[crystal_system(point_group)],
    )


def processed_samples(processed, rows, graph: dict | None = None) -> list[GraphSample]:
    """Graphs of the materials at `rows` of a ProcessedData."""
    out = []
    for i in rows:
        a, b = processed.atom_ptr[i], processed.atom_ptr[i + 1]
        s = structure_from_arrays(processed.atomic_numbers[a:b], processed.cart_coords[a:b], processed.lattice[i])
        out.append(sample_from_structure(s, processed.point_group[i], graph))
    return out


@dataclass
class GraphBatch:
    x: torch.Tensor  # (N, 200) standardised matscholar rows
    edge_attr: torch.Tensor  # (E, 41)
    src: torch.Tensor  # (E,) int64, into x
    dst: torch.Tensor
    node_graph: torch.Tensor  # (N,) material of each atom
    slot: torch.Tensor  # (N,) position of the atom inside its material
    n_atoms: torch.Tensor  # (B,)
    system: torch.Tensor  # (B,)
    target: torch.Tensor | None = None  # (B, M) normalised DOS

    @property
    def num_graphs(self) -> int:
        return int(self.n_atoms.shape[0])

    def to(self, device) -> GraphBatch:
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return GraphBatch(**{k: (v.to(device) if v is not None else None) for k, v in kw.items()})


def collate(samples: list[GraphSample], targets: np.ndarray | None = None) -> GraphBatch:
    table = matscholar_table()
    n = np.array([len(s.z) for s in samples], np.int64)
    offsets = np.concatenate([[0], np.cumsum(n)[:-1]])
    z = np.concatenate([s.z for s in samples])
    return GraphBatch(
        x=torch.from_numpy(table[z]),
        edge_attr=torch.from_numpy(np.concatenate([s.edge_attr for s in samples])),
        src=torch.from_numpy(np.concatenate([s.src + o for s, o in zip(samples, offsets, strict=True)])),
        dst=torch.from_numpy(np.concatenate([s.dst + o for s, o in zip(samples, offsets, strict=True)])),
        node_graph=torch.from_numpy(np.repeat(np.arange(len(samples)), n)),
        slot=torch.from_numpy(np.concatenate([np.arange(k) for k in n])),
        n_atoms=torch.from_numpy(n),
        system=torch.tensor([s.system for s in samples], dtype=torch.int64),
        target=None if targets is None else torch.as_tensor(np.asarray(targets, np.float32)),
    )
