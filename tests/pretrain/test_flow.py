"""Stage 2: interpolant, loss weights, the DiT's zero start and padding behaviour, the collapse guard."""

import pytest
import torch
from torch.utils.data import DataLoader

from dosforge.pretrain.dit import DiT
from dosforge.pretrain.flow import LatentFlow, centred_noise, flow_loss, loss_weight, sample_t
from dosforge.pretrain.latent import LatentCollapse, check_collapse, latent_stats
from dosforge.pretrain.masking import PlainDataset, collate_pretrain


def test_t_range_and_weight_clip():
    t = sample_t(100_000, 0.01, generator=torch.Generator().manual_seed(0))
    assert 0.01 <= float(t.min()) < 0.02 and 0.98 < float(t.max()) <= 0.99
    w = loss_weight(torch.tensor([0.0, 0.5, 0.9, 0.99]), 0.9)
    torch.testing.assert_close(w, torch.tensor([1.0, 4.0, 100.0, 100.0]))


def test_noise_is_centred_over_valid_tokens_only():
    valid = torch.tensor([[True, True, True, False], [True, True, False, False]])
    z0 = centred_noise((2, 4, 5), valid, generator=torch.Generator().manual_seed(0))
    assert float((z0.sum(1)).abs().max()) < 1e-5 and float(z0[~valid].abs().max()) == 0.0


def test_loss_ignores_padding_values():
    valid = torch.tensor([[True, True, False]])
    z1, pred, t = torch.randn(1, 3, 4), torch.randn(1, 3, 4), torch.tensor([0.5])
    a = flow_loss(pred, z1, t, valid, 0.9)
    pred2 = pred.clone()
    pred2[0, 2] += 100.0
    b = flow_loss(pred2, z1, t, valid, 0.9)
    assert torch.equal(a[0], b[0]) and float(a[0]) == pytest.approx(4.0 * float(a[1]))


@torch.no_grad()
def test_dit_starts_at_zero_and_ignores_padding():
    torch.manual_seed(0)
    dit = DiT(8, d_model=16, heads=2, layers=2)
    x, t = torch.randn(2, 5, 8), torch.tensor([0.3, 0.7])
    valid = torch.tensor([[True] * 5, [True, True, True, False, False]])
    assert float(dit(x, t, valid).abs().max()) == 0.0  # adaLN-Zero and a zero output layer
    for p in dit.parameters():  # leave the zero start, as after some training
        torch.nn.init.normal_(p, std=0.2)
    out = dit(x, t, valid)
    assert float(out[1, 3:].abs().max()) == 0.0
    x2 = x.clone()
    x2[1, 3:] = 7.0  # padding values
    shorter = dit(x[1:, :3], t[1:], valid[1:, :3])
    torch.testing.assert_close(dit(x2, t, valid)[1, :3], out[1, :3])
    torch.testing.assert_close(shorter[0], out[1, :3], atol=1e-5, rtol=1e-5)


class Constant(torch.nn.Module):
    """An encoder that ignores its input: the collapsed state stage 2 must never reach."""

    def __init__(self, d=8):
        super().__init__()
        self.value = torch.nn.Parameter(torch.ones(d))

    def forward(self, batch, **_):
        return self.value.expand(batch.z.shape[0], -1)


def test_collapse_guard_fires_on_a_constant_encoder(items):
    probe = DataLoader(PlainDataset(items), batch_size=4, collate_fn=collate_pretrain)
    stats = latent_stats(Constant(), probe, "cpu")
    assert stats["latent_std_mean"] == 0.0
    with pytest.raises(LatentCollapse, match="constant"):
        check_collapse(stats, 1.0, 0.1, "at epoch 3")
    with pytest.raises(LatentCollapse, match="below 0.1 x its value"):
        check_collapse({"latent_std_mean": 0.05}, 1.0, 0.1, "at epoch 3")
    check_collapse({"latent_std_mean": 0.5}, 1.0, 0.1, "at epoch 3")  # healthy: no error


def test_flow_trains_encoder_jointly(items):
    torch.manual_seed(0)
    enc = Constant()
    flow = LatentFlow(enc, DiT(8, d_model=16, heads=2, layers=1))
    batch, _ = collate_pretrain(items[:4])
    out = flow(batch)
    out["loss"].backward()
    assert set(out) == {"loss", "mse"} and enc.value.grad is not None  # no stop-gradient on z1
