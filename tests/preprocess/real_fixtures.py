"""Helpers for the preprocess tests: the real MP fixtures by id and a stand-in graph builder."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
from pymatgen.electronic_structure.dos import CompleteDos

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "mp_fixtures"
GRID = {"emin": -10.0, "emax": 10.0, "bins": 256}
# id in the processed data -> (fixture file, index in a list file)
REAL = {
    "es_dos_objs-1": ("es_dos_objs.json.gz", 1),  # Si
    "GaN_dos": ("GaN_dos.json.gz", None),
    "Fe_dos": ("Fe_dos.json.gz", None),  # spin-polarised metal
    "complete_dos": ("complete_dos.json.gz", None),  # LiFe4(PO4)4, spin-polarised, GGA+U
    "es_dos_objs-0": ("es_dos_objs.json.gz", 0),  # WO2, spin-polarised
}


def stand_in_graph(structure) -> dict[str, np.ndarray]:
    """A stand-in for dosforge.graph.build_graph (pairs within 3 A), so these tests do not depend on it."""
    centre, neighbour, _images, dist = structure.get_neighbor_list(3.0)
    edge_index = np.stack([centre, neighbour], 1).astype(np.int64)
    return {"edge_index": edge_index, "edge_len": dist[:, None].astype(np.float32)}


def graph_failing_for_gan(structure) -> dict[str, np.ndarray]:
    """`stand_in_graph`, except that it raises for the 4-site GaN cell: a graph-construction reject."""
    if len(structure) == 4:
        raise ValueError("no neighbours")
    return stand_in_graph(structure)


def complete_dos(material_id: str) -> CompleteDos:
    name, index = REAL[material_id]
    with gzip.open(FIXTURES / name, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    return CompleteDos.from_dict(data if index is None else data[index]["data"])
