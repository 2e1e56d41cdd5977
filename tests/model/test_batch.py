"""collate: samples -> Batch per docs/architecture.md (graphs offset, element groups, normalised targets)."""

import numpy as np
import pytest
import torch
from model_testkit import make_sample

from dosforge.model import collate
from dosforge.normalize import Normalizer


def test_fields_offsets_and_groups(samples):
    batch = collate(samples[:3])  # TiO2 (3 atoms), NaCl (2), GaAs (4)
    assert batch.num_graphs == 3 and batch.z.shape == (9,)
    assert batch.batch.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert batch.edge_index.shape[0] == 2 and batch.edge_index.shape[1] == batch.edge_vec.shape[0]
    # edges never cross materials
    assert torch.equal(batch.batch[batch.edge_index[0]], batch.batch[batch.edge_index[1]])
    assert batch.lattice_vecs.shape == (3, 3, 3)
    # groups: one per (material, element), ascending Z inside a material -- the order of the EPDOS rows
    assert batch.group_z.tolist() == [8, 22, 11, 17, 31, 33]
    assert batch.group_graph.tolist() == [0, 0, 1, 1, 2, 2]
    assert torch.equal(batch.group_z[batch.group_of_atom], batch.z)
    assert torch.equal(batch.group_graph[batch.group_of_atom], batch.batch)
    assert batch.dos.shape == (3, 256) and batch.epdos.shape == (6, 256)
    assert np.allclose(batch.epdos[0].numpy(), samples[0]["epdos"][0])  # raw when no normalizer
    assert batch.ids == ["tio2_tri", "nacl", "gaas_mono"]


def test_normalizer_applied(samples):
    stats = {
        "dos": {"clip": 2.0, "mean": 0.5, "std": 2.0},
        "epdos": {"8": {"clip": 5.0, "mean": 1.0, "std": 4.0}},
        "epdos_default": {"clip": 5.0, "mean": 0.0, "std": 1.0},
        "fermi": {"mean": 1.0, "std": 2.0},
        "gap": {"mean": 0.5, "std": 0.25},
    }
    norm = Normalizer(stats)
    batch = collate(samples[:1], normalizer=norm)
    s = samples[0]
    assert np.allclose(batch.dos[0].numpy(), (np.minimum(s["dos"], 2.0) - 0.5) / 2.0, atol=1e-6)
    assert np.allclose(batch.epdos[0].numpy(), (np.minimum(s["epdos"][0], 5.0) - 1.0) / 4.0, atol=1e-6)  # O row
    assert batch.fermi.item() == pytest.approx((s["efermi"] - 1.0) / 2.0, abs=1e-6)
    assert batch.gap.item() == pytest.approx((s["gap"] - 0.5) / 0.25, abs=1e-5)


def test_unlabelled_samples_and_graphs_built_on_demand(structures):
    s = make_sample(structures["nacl"], "new", labels=False)
    del s["graph"]  # e.g. `dosforge predict` on a structure that was never preprocessed
    batch = collate([s], graph_params={"cutoff": 4.0, "max_neighbors": 25})
    assert batch.edge_vec.shape[0] > 0 and batch.get("dos") is None


def test_mismatched_epdos_rows_rejected(samples):
    bad = dict(samples[0], epdos_z=np.array([8, 26]))
    with pytest.raises(ValueError, match="one row per element present"):
        collate([bad])


def test_mixed_labelled_and_unlabelled_rejected(samples, structures):
    with pytest.raises(ValueError, match="labelled or unlabelled"):
        collate([samples[0], make_sample(structures["nacl"], "u", labels=False)])
