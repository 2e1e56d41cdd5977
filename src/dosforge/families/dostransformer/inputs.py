"""What DOSTransformer reads for each spectrum kind of the processed data (manifest `spectrum`).

- electron DOS: CGCNN graphs with matscholar atom rows (data.py) and the sum-aggregating processor (model.py);
- phonon DOS (supplement A.1; notes/dostransformer.md §1, §3): the e3nn-tutorial graph, all pairs within 4 A with
  mass-weighted one-hot atoms and l <= 1 edge features, and the mean-aggregating processor (phonon_graph.py).
The training unit (train.py) takes one `SpectrumInputs` and is otherwise the same for both; checkpoints name the
spectrum so that loading rebuilds the right processor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dosforge.config import ConfigError
from dosforge.families.dostransformer import phonon_graph
from dosforge.families.dostransformer.data import GraphSample, collate, processed_samples
from dosforge.families.dostransformer.features import structure_from_arrays
from dosforge.families.dostransformer.model import DOSTransformer, DOSTransformerConfig


@dataclass(frozen=True)
class SpectrumInputs:
    spectrum: str  # electron | phonon
    samples: Callable  # (processed, rows, graph params) -> list[GraphSample]
    collate: Callable  # (samples, targets=None) -> GraphBatch
    build: Callable[[DOSTransformerConfig], DOSTransformer]
    shape: dict  # DOSTransformerConfig fields fixed by the inputs (atom and edge widths)


def phonon_samples(processed, rows, graph: dict | None = None) -> list[GraphSample]:
    """Phonon graphs of the materials at `rows` (radius: the published 4 A; the electron graph params do not apply)."""
    out = []
    for i in rows:
        a, b = processed.atom_ptr[i], processed.atom_ptr[i + 1]
        s = structure_from_arrays(processed.atomic_numbers[a:b], processed.cart_coords[a:b], processed.lattice[i])
        out.append(phonon_graph.phonon_sample(s, processed.point_group[i]))
    return out


ELECTRON = SpectrumInputs("electron", processed_samples, collate, DOSTransformer, {})
PHONON = SpectrumInputs(
    "phonon",
    phonon_samples,
    phonon_graph.collate_phonon,
    phonon_graph.phonon_model,
    {"atom_dim": phonon_graph.N_ELEMENTS, "edge_dim": phonon_graph.EDGE_DIM},
)
BY_SPECTRUM = {"electron": ELECTRON, "phonon": PHONON}
PHONON_GRAPH = {"radius": phonon_graph.PHONON_RADIUS, "kind": "all pairs + self-loops, mean aggregation (phDOS)"}


def inputs_for(spectrum: str | None) -> SpectrumInputs:
    """The inputs of a spectrum kind; None (manifests and checkpoints from before phonons) is electron."""
    name = spectrum or "electron"
    if name not in BY_SPECTRUM:
        raise ConfigError(f"DOSTransformer has no inputs for spectrum {name!r}; valid: {', '.join(BY_SPECTRUM)}")
    return BY_SPECTRUM[name]
