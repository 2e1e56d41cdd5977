"""Algorithm 1 (A.4) on constructed spectra with known gaps, and its gradient reaching the encoder."""

import numpy as np
import pytest
import torch
from model_testkit import tiny_config

from dosforge.gap import soft_gap
from dosforge.model import DOSForge, collate, compute_losses

DE = 20.0 / 256


def gapped_dos(below: int, above: int, level: float = 1.0) -> torch.Tensor:
    """Zero in `below` bins under E_F and `above` bins over it, `level` states/eV elsewhere."""
    d = torch.full((256,), level)
    d[128 - below : 128 + above] = 0.0
    return d


@pytest.mark.parametrize(("below", "above"), [(0, 0), (5, 5), (3, 17), (40, 0), (64, 64)])
def test_known_gaps(below, above):
    # Once a band is reached cumsum >= 1 state/eV per bin, so k = 10 zeroes the mask at the first band bin.
    got = soft_gap(gapped_dos(below, above).unsqueeze(0), DE, k=10.0)
    assert torch.allclose(got, torch.tensor([(below + above) * DE]), atol=1e-6)


def test_negative_predictions_are_clipped_and_small_tails_are_soft():
    d = gapped_dos(10, 10)
    d[118:138] = -0.5  # negative DOS inside the gap is treated as 0 (ReLU step)
    assert torch.isclose(soft_gap(d, DE, 10.0), torch.tensor(20 * DE))
    tail = gapped_dos(10, 10)
    tail[127] = 0.05  # a weak tail just below E_F shrinks the soft gap by part of a bin per bin of tail
    assert 10 * DE < float(soft_gap(tail, DE, 10.0)) < 20 * DE


class _Stats:
    """A stand-in Normalizer: DOS mean 0.001, std 0.005 (an insulator-like, nearly empty DOS at E_F, where
    Algorithm 1's mask is not saturated: for a dense metallic DOS ReLU(1 - k cumsum) is 0 from the first bin and
    passes no gradient, as in the paper); the gap with mean 1, std 2."""

    def denorm_dos(self, x):
        return x * 0.005 + 0.001

    def denorm_gap(self, x):
        return x * 2.0 + 1.0


def test_extract_head_uses_denormalised_dos_and_gradient_reaches_encoder(samples):
    model = DOSForge(tiny_config(tasks=("dos", "gap"), gap_head="extract"))
    model.set_normalization(_Stats())
    assert float(model.norm.dos_mean) == pytest.approx(0.001) and float(model.norm.dos_std) == pytest.approx(0.005)
    batch = collate(samples[:2])
    out = model(batch)
    expected = (soft_gap(out["dos"] * 0.005 + 0.001, DE, 10.0) - 1.0) / 2.0
    assert (expected > -0.5).all()  # a non-zero gap: the mask is active
    assert torch.allclose(out["gap"], expected, atol=1e-6)
    assert not any(p.requires_grad for p in model.gap_head.parameters())  # parameter-free
    # gap loss alone (DOS weight 0): its gradient must reach the shared encoder through the predicted DOS
    loss = compute_losses(out, batch, {"weights": {"dos": 0.0, "gap": 1.0}})["total"]
    loss.backward()
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and max(float(g.abs().max()) for g in grads) > 0
    assert np.isfinite(loss.item())
