"""DOSTransformer model: shapes, padding masks, attention definition, prompt-mean rule, loss, features."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from dosforge.families.dostransformer.data import GraphSample, collate, sample_from_structure
from dosforge.families.dostransformer.features import cgcnn_graph, gaussian_centres, matscholar_table
from dosforge.families.dostransformer.model import (
    AttentionLayer,
    DOSTransformer,
    DOSTransformerConfig,
    dostransformer_loss,
)

CFG = DOSTransformerConfig(n_tokens=20, d=16, mp_layers=2, l1=1, l2=1, l3=1, ffn_mult=2)


def _sample(n_atoms: int, seed: int, system: int = 0) -> GraphSample:
    rng = np.random.default_rng(seed)
    e = 3 * n_atoms
    return GraphSample(
        z=rng.integers(1, 90, n_atoms),
        src=rng.integers(0, n_atoms, e),
        dst=np.repeat(np.arange(n_atoms), 3),
        edge_attr=rng.random((e, 41)).astype(np.float32),
        system=system,
    )


@pytest.fixture
def model():
    torch.manual_seed(0)
    return DOSTransformer(CFG).eval()


def test_output_shapes(model):
    out = model(collate([_sample(2, 0), _sample(5, 1), _sample(1, 2)]))
    for key in ("dos", "dos_global", "dos_system"):
        assert out[key].shape == (3, 20)
    assert torch.equal(out["dos"], out["dos_system"])


def test_padded_atoms_never_change_another_materials_prediction(model):
    small, big = _sample(2, 0), _sample(9, 1)
    alone = model(collate([small]))["dos"][0]
    with_big = model(collate([small, big]))["dos"][0]  # small is padded to 9 slots in this batch
    torch.testing.assert_close(alone, with_big, rtol=0, atol=1e-5)


def test_unmasked_padding_would_change_it(model):
    """The test above can fail: the same batch without the key mask moves the small material's prediction."""
    layer = model.cross1.layers[0]
    x = torch.randn(1, 4, 16)
    kv = torch.cat([torch.randn(1, 2, 16), torch.zeros(1, 3, 16)], dim=1)
    mask = torch.tensor([[True, True, False, False, False]])
    masked = layer(x, kv, mask)
    torch.testing.assert_close(masked, layer(x, kv[:, :2]), rtol=0, atol=1e-6)
    assert not torch.allclose(masked, layer(x, kv, None), atol=1e-4)


def test_prediction_is_invariant_to_atom_order(model):
    s = _sample(4, 3)
    perm = np.array([2, 0, 3, 1])
    inv = np.argsort(perm)
    shuffled = GraphSample(z=s.z[perm], src=inv[s.src], dst=inv[s.dst], edge_attr=s.edge_attr, system=s.system)
    torch.testing.assert_close(model(collate([s]))["dos"], model(collate([shuffled]))["dos"], rtol=0, atol=1e-5)


def test_attention_is_the_papers_projection_free_softmax():
    torch.manual_seed(1)
    layer = AttentionLayer(8, 2)
    x, kv = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    ln = layer.ln_attn
    attn = torch.softmax(ln(x) @ ln(kv).transpose(1, 2) / np.sqrt(8), -1) @ ln(kv)
    y = x + attn
    y = y + layer.fc2(torch.relu(layer.fc1(layer.ln_ffn(y))))
    torch.testing.assert_close(layer(x, kv), y)


def test_unseen_crystal_system_uses_the_mean_of_trained_prompts(model):
    with torch.no_grad():
        model.prompt.weight.copy_(torch.arange(7 * 8, dtype=torch.float32).reshape(7, 8))
    model.trained_systems.copy_(torch.tensor([True, True, True, True, True, False, False]))
    rows = model.prompts_for(torch.tensor([0, 5, 6]))
    mean = model.prompt.weight[:5].mean(0)
    torch.testing.assert_close(rows[0], model.prompt.weight[0])
    torch.testing.assert_close(rows[1], mean)
    torch.testing.assert_close(rows[2], mean)
    # and the prediction of an unseen system equals the one made with the mean prompt placed in its row
    out_unseen = model(collate([_sample(3, 4, system=6)]))["dos"]
    with torch.no_grad():
        model.prompt.weight[6] = mean
    model.trained_systems.fill_(True)
    torch.testing.assert_close(out_unseen, model(collate([_sample(3, 4, system=6)]))["dos"])


def test_loss_is_rmse_global_plus_beta_rmse_system():
    target = torch.zeros(2, 4)
    out = {"dos_global": torch.tensor([[1.0] * 4, [3.0] * 4]), "dos_system": torch.tensor([[2.0] * 4, [0.0] * 4])}
    out["dos"] = out["dos_system"]
    losses = dostransformer_loss(out, target, beta=0.5)
    assert float(losses["dos_global"]) == pytest.approx(2.0)  # mean of per-material RMSE 1 and 3
    assert float(losses["dos_system"]) == pytest.approx(1.0)
    assert float(losses["total"]) == pytest.approx(2.5)


def test_matscholar_columns_standardised_over_z_1_to_100():
    t = matscholar_table()
    assert t.shape == (104, 200)
    np.testing.assert_allclose(t[1:101].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(t[1:101].std(0), 1, atol=1e-4)
    assert not t[0].any()


def test_graph_twelve_nearest_within_radius():
    s = Structure(Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])  # sc cell: 6 at a, 12 at a√2, ...
    g = cgcnn_graph(s, radius=8.0, max_neighbors=12)
    assert len(g["src"]) == 12 and (g["dst"] == 0).all()
    np.testing.assert_allclose(np.sort(g["dist"])[:6], 3.61, rtol=1e-6)
    np.testing.assert_allclose(np.sort(g["dist"])[6:], 3.61 * np.sqrt(2), rtol=1e-6)
    sparse = cgcnn_graph(s, radius=4.0)
    assert len(sparse["src"]) == 6  # fewer than 12 within the radius: no padded fake edges
    assert len(gaussian_centres()) == 41
    sample = sample_from_structure(s, "m-3m")
    assert sample.edge_attr.shape == (12, 41) and sample.system == 0
