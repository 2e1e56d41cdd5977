"""`collate`: per-material samples (`ProcessedData.sample(i)`) -> one torch_geometric `Batch`.

Fields (docs/architecture.md "Model"):
- `z` [N] atomic numbers, `batch` [N] graph of each atom, `ptr` [B+1], `num_graphs` B, `ids` (list of str)
- `edge_index` [2, E] (source, target; global atom indices), `edge_vec` [E, 3], `lattice_vecs` [B, 3, 3]
- element groups, one per (material, element present), ordered by material then Z:
  `group_of_atom` [N], `group_graph` [G], `group_z` [G]
- targets when the samples carry them, normalised with `normalizer` (raw when it is None):
  `dos` [B, T], `epdos` [G, T] (row g is group g), `fermi` [B], `gap` [B]
A sample without a stored graph (e.g. `dosforge predict` on a new structure) gets one built here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Batch

TARGETS = ("dos", "epdos", "efermi", "gap")


def _graph_of(sample: dict, graph_params: dict | None) -> dict:
    graph = sample.get("graph") or {}
    if {"edge_index", "edge_vec", "lattice_vecs"} <= set(graph):
        return graph
    from pymatgen.core import Lattice, Structure

    from dosforge.graph import build_graph

    structure = Structure(
        Lattice(np.asarray(sample["lattice"], dtype=float)),
        [int(z) for z in sample["z"]],
        np.asarray(sample["cart_coords"], dtype=float),
        coords_are_cartesian=True,
    )
    return build_graph(structure, **(graph_params or {}))


def _has(sample: dict, key: str) -> bool:
    value = sample.get(key)
    return value is not None and not (np.ndim(value) == 0 and np.isnan(float(value)))


def collate(samples: list[dict], normalizer=None, graph_params: dict | None = None) -> Batch:
    if not samples:
        raise ValueError("collate needs at least one sample")
    zs, edges, vecs, lats, batch_idx, group_atom, group_graph, group_z = [], [], [], [], [], [], [], []
    n_atoms = n_groups = 0
    for b, s in enumerate(samples):
        z = np.asarray(s["z"], dtype=np.int64)
        if z.size == 0:
            raise ValueError(f"sample {s.get('id', b)!r} has no atoms")
        g = _graph_of(s, graph_params)
        zs.append(z)
        edges.append(np.asarray(g["edge_index"], dtype=np.int64) + n_atoms)
        vecs.append(np.asarray(g["edge_vec"], dtype=np.float32))
        lats.append(np.asarray(g["lattice_vecs"], dtype=np.float32).reshape(3, 3))
        batch_idx.append(np.full(z.size, b, dtype=np.int64))
        uz = np.unique(z)  # groups in ascending Z, the order of the EPDOS rows
        group_atom.append(np.searchsorted(uz, z) + n_groups)
        group_graph.append(np.full(uz.size, b, dtype=np.int64))
        group_z.append(uz)
        n_atoms += z.size
        n_groups += uz.size
    counts = np.array([z.size for z in zs])
    fields = {
        "z": torch.from_numpy(np.concatenate(zs)),
        "batch": torch.from_numpy(np.concatenate(batch_idx)),
        "ptr": torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)),
        "edge_index": torch.from_numpy(np.concatenate(edges).T.copy()),
        "edge_vec": torch.from_numpy(np.concatenate(vecs)),
        "lattice_vecs": torch.from_numpy(np.stack(lats)),
        "group_of_atom": torch.from_numpy(np.concatenate(group_atom)),
        "group_graph": torch.from_numpy(np.concatenate(group_graph)),
        "group_z": torch.from_numpy(np.concatenate(group_z)),
    }
    fields.update(_targets(samples, group_z, normalizer))
    out = Batch(**fields)
    out.num_nodes = n_atoms
    out.ids = [str(s.get("id", i)) for i, s in enumerate(samples)]
    return out


def _targets(samples: list[dict], group_z: list[np.ndarray], normalizer) -> dict:
    out = {}
    for key in TARGETS:
        present = [_has(s, key) for s in samples]
        if not any(present):
            continue
        if not all(present):
            missing = [s.get("id", i) for i, (s, p) in enumerate(zip(samples, present, strict=True)) if not p]
            raise ValueError(f"samples {missing} have no '{key}' while others do: batch labelled or unlabelled data")
        if key == "epdos":
            rows = []
            for s, uz in zip(samples, group_z, strict=True):
                ez = np.asarray(s["epdos_z"], dtype=np.int64)
                if not np.array_equal(ez, uz):
                    raise ValueError(
                        f"sample {s.get('id')!r}: EPDOS rows are for Z={ez.tolist()} but its atoms have "
                        f"Z={uz.tolist()}; expected one row per element present, sorted by Z"
                    )
                rows.append(np.asarray(s["epdos"], dtype=np.float64))
            value = np.concatenate(rows)
            value = normalizer.norm_epdos(value, np.concatenate(group_z)) if normalizer is not None else value
        else:
            value = np.stack([np.asarray(s[key], dtype=np.float64) for s in samples])
            if normalizer is not None:
                value = {"dos": normalizer.norm_dos, "efermi": normalizer.norm_fermi, "gap": normalizer.norm_gap}[key](
                    value
                )
        out["fermi" if key == "efermi" else key] = torch.as_tensor(np.asarray(value), dtype=torch.float32)
    return out
