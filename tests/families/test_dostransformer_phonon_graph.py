"""DOSTransformer's phonon graph: 4 A neighbours + self-loops, mass one-hot nodes, cutoff x Y_l<=1 edges, mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from dosforge.families.dostransformer.phonon_graph import (
    MeanProcessorLayer,
    collate_phonon,
    edge_features,
    mass_one_hot,
    phonon_config,
    phonon_graph,
    phonon_model,
    phonon_sample,
    smooth_cutoff,
)


def rock_salt(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_smooth_cutoff_is_flat_then_falls_to_zero():
    np.testing.assert_allclose(smooth_cutoff([0.0, 0.49, 0.5, 0.75, 1.0, 1.2]), [1, 1, 1, 0.5, 0, 0], atol=1e-12)


def test_rock_salt_neighbours_within_4_angstrom():
    s = rock_salt()  # Na-Cl 2.82 A (6), Na-Na 3.99 A (12), next shell 4.88 A: outside
    g = phonon_graph(s)
    per_atom = np.bincount(g["src"], minlength=len(s))
    assert (per_atom == 6 + 12 + 1).all()  # + the self-loop
    lengths = np.linalg.norm(g["vec"], axis=1)
    assert lengths.max() < 4.0 and (lengths == 0).sum() == len(s)
    # edges come in reversed pairs: the graph is symmetric
    pairs = {(int(a), int(b)) for a, b in zip(g["src"], g["dst"], strict=True)}
    assert all((b, a) in pairs for a, b in pairs)


def test_edge_features_are_cutoff_times_spherical_harmonics():
    vec = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 5.0]])
    f = edge_features(vec)
    np.testing.assert_allclose(f[0], [1, 0, 0, 0])  # self-loop
    np.testing.assert_allclose(f[1], [1, np.sqrt(3), 0, 0], rtol=1e-6)
    c = smooth_cutoff(0.75)
    np.testing.assert_allclose(f[2], [c, 0, c * np.sqrt(3), 0], rtol=1e-6)
    np.testing.assert_allclose(f[3], 0.0)  # beyond 4 A
    # 'component' normalisation: sum of Y_1m^2 = 3 for any direction; rotation keeps the norms
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    g = edge_features(np.array([[1.0, 2.0, 0.5]]) @ rot.T)
    assert (g[0, 1:] ** 2).sum() / g[0, 0] ** 2 == pytest.approx(3.0, rel=1e-5)


def test_nodes_are_mass_weighted_one_hot():
    x = mass_one_hot(np.array([11, 17]))
    assert (
        x.shape == (2, 118)
        and x[0, 10] == pytest.approx(22.99, abs=0.01)
        and x[1, 16] == pytest.approx(35.45, abs=0.01)
    )
    assert (x != 0).sum() == 2


def test_mean_aggregation_and_a_forward_pass():
    torch.manual_seed(0)
    layer = MeanProcessorLayer(8)
    h, b = torch.randn(3, 8), torch.randn(4, 8)
    src, dst = torch.tensor([0, 1, 2, 0]), torch.tensor([2, 2, 2, 1])
    out, _ = layer(h, b, src, dst)
    msgs = layer.edge_mlp(torch.cat([h[src], h[dst], b], -1))
    expect = h[2] + layer.node_mlp(torch.cat([h[2], msgs[:3].mean(0)]))
    torch.testing.assert_close(out[2], expect)
    torch.testing.assert_close(out[0], h[0] + layer.node_mlp(torch.cat([h[0], torch.zeros(8)])))  # no edges in: 0
    batch = collate_phonon(
        [phonon_sample(rock_salt(), "m-3m"), phonon_sample(rock_salt(5.0), "m-3m")], np.zeros((2, 51))
    )
    model = phonon_model(phonon_config(d=16, mp_layers=2, l1=1, l2=1, l3=1, ffn_mult=2))
    assert all(isinstance(p, MeanProcessorLayer) for p in model.processor)
    assert model(batch)["dos"].shape == (2, 51)
