"""Stage 1: canonical targets, the loss parts (masked CE only, closed-form KL), a quick overfit."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pretrain_testkit import GRAPH, small_structures
from pymatgen.core import Structure

from dosforge.model.encoder import ICoMFormerEncoder
from dosforge.pretrain.corpus import make_item, targets
from dosforge.pretrain.masking import MaskedDataset, collate_pretrain
from dosforge.pretrain.vae import EncoderVAE, baselines, periodic_l1


def _vae(d=16):
    torch.manual_seed(0)
    return EncoderVAE(ICoMFormerEncoder(d, 1, 1, 8, 8), d)


def test_lattice_target_is_invariant_to_rotation_and_supercell():
    s = small_structures()[-1]
    rotated = Structure(
        s.lattice.matrix @ np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0].T, s.species, s.frac_coords
    )
    for other in (rotated, s * (2, 1, 1)):
        _, _, lat_a = targets(s)
        reduced, _, lat_b = targets(other)
        assert len(reduced) == len(s)
        np.testing.assert_allclose(lat_a, lat_b, atol=1e-4)


def test_periodic_l1():
    assert float(periodic_l1(torch.tensor([0.95]), torch.tensor([0.05]))) == pytest.approx(0.1)


@torch.no_grad()
def test_loss_parts(items):
    """The total adds the parts with weights 1, 1, 1, 1e-5; CE is taken at masked sites only; KL is the closed form."""
    vae = _vae()
    batch, extras = collate_pretrain([MaskedDataset(items, 0.3, 0)[i] for i in range(4)])
    torch.manual_seed(1)
    out = vae(batch, extras)
    assert float(out["loss"]) == pytest.approx(
        float(out["atom_ce"] + out["coords_l1"] + out["lattice_l1"] + 1e-5 * out["kl"]), rel=1e-6
    )
    mask = extras["atom_mask"]
    assert 0 < int(mask.sum()) < mask.numel()
    h = vae.encoder(batch, atom_mask=mask, mask_embedding=vae.mask_embedding)
    mu, logvar = vae.posterior(h)
    torch.manual_seed(1)  # the same posterior sample as the forward pass
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = vae.atom_head(z)
    assert float(out["atom_ce"]) == pytest.approx(float(F.cross_entropy(logits[mask], batch.z[mask])), rel=1e-5)
    assert float(out["atom_ce"]) != pytest.approx(float(F.cross_entropy(logits, batch.z)), rel=1e-3)
    kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)).mean()
    assert float(out["kl"]) == pytest.approx(float(kl), rel=1e-5)


def test_baselines(items):
    b = baselines(items)
    assert 0 < b["atom_acc_majority"] < 1 and 0 < b["coords_l1_const"] <= 0.5 and b["lattice_l1_mean"] > 0


def test_vae_overfits_masked_elements(items):
    """Eight structures, many steps: the element head must read the masked elements off their neighbours."""
    vae = _vae(d=32)
    ds = MaskedDataset(items[:8], 0.3, 0)
    batch, extras = collate_pretrain([ds[i] for i in range(len(ds))])
    opt = torch.optim.AdamW(vae.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(150):
        out = vae(batch, extras)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    vae.eval()
    torch.manual_seed(0)
    assert float(vae(batch, extras)["atom_acc"]) >= 0.9


def test_item_graph_matches_its_cell():
    s = small_structures()[0]
    item = make_item("x", "bundle", s, GRAPH)
    assert item["z"].shape[0] == item["frac_target"].shape[0] == item["cart_coords"].shape[0]
