"""Appendix B losses: spectral MAE + lambda_PS * PS, mid losses merged with lambda_mid, task weights."""

import pytest
import torch
from model_testkit import tiny_config

from dosforge.config import ConfigError
from dosforge.model import DOSForge, LossConfig, collate, compute_losses
from dosforge.model.losses import ps_loss, ps_patch_length


def _spectra(n=4, t=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(0, 12.566, t)
    return torch.stack([torch.sin(x * (i + 1)) + 0.1 * torch.randn(t, generator=g) for i in range(n)])


def test_ps_loss_zero_on_perfect_prediction_and_grows_with_structure_errors():
    true = _spectra()
    assert float(ps_loss(true.clone(), true)) == pytest.approx(0.0, abs=1e-4)
    shifted = torch.roll(true, 5, dims=-1)  # same values, misplaced peaks
    scaled = true * 0.2  # right shape, wrong amplitude
    assert float(ps_loss(shifted, true)) > 0.05
    assert float(ps_loss(scaled, true)) > 0.01


def test_patch_length_follows_the_dominant_period():
    t = torch.arange(256.0)
    slow = torch.sin(2 * torch.pi * t / 64).repeat(3, 1)  # period 64 bins -> patches of 32
    assert ps_patch_length(slow, 128) == 32
    assert ps_patch_length(slow, 16) == 16  # bounded by ps_max_patch


def test_compute_losses_weights_and_mid_terms(samples):
    model = DOSForge(tiny_config(coupling="cross", gap_head="pool"))
    batch = collate(samples)
    out = model(batch)
    cfg = LossConfig.from_params({"lambda_mid": 0.5, "weights": {"gap": 0.05}})
    got = compute_losses(out, batch, cfg)
    assert set(got) == {"total", "dos", "dos_mid", "epdos", "epdos_mid", "fermi", "gap", "dos_mae", "epdos_mae"}
    assert torch.isclose(got["dos_mae"], (out["dos"] - batch.dos).abs().mean().detach())  # the data term alone
    assert got["dos"] > got["dos_mae"]  # the PS term adds to it
    expected = (
        got["dos"] + 0.5 * got["dos_mid"] + got["epdos"] + 0.5 * got["epdos_mid"] + got["fermi"] + 0.05 * got["gap"]
    )
    assert torch.isclose(got["total"].detach(), expected, rtol=1e-5)
    assert got["total"].requires_grad and not got["dos"].requires_grad
    mae = (out["fermi"] - batch.fermi).abs().mean()
    assert torch.isclose(got["fermi"], mae.detach())
    # lambda_ps = 0 leaves plain MAE for spectra
    no_ps = compute_losses(out, batch, {"lambda_ps": 0.0})
    assert torch.isclose(no_ps["dos"], (out["dos"] - batch.dos).abs().mean().detach())


def test_losses_need_targets(samples, structures):
    from model_testkit import make_sample

    model = DOSForge(tiny_config(tasks=("fermi",)))
    batch = collate([make_sample(structures["nacl"], "x", labels=False)])
    with pytest.raises(ValueError, match="no 'fermi' target"):
        compute_losses(model(batch), batch, {})


def test_loss_config_rejects_unknown_keys_and_negative_weights():
    with pytest.raises(ConfigError, match="lambda_ps"):
        LossConfig.from_params({"lamda_ps": 0.2})
    with pytest.raises(ConfigError, match="valid keys: dos, epdos, fermi, gap"):
        LossConfig.from_params({"weights": {"bandgap": 1.0}})
    with pytest.raises(ConfigError, match="non-negative"):
        LossConfig.from_params({"lambda_mid": -1})


def test_ps_loss_bounded_and_finite_for_flat_spectra():
    """A flat prediction (early training) or an all-zero target (an element with no states) stays finite."""
    true = _spectra()
    flat = torch.zeros_like(true, requires_grad=True)
    loss = ps_loss(flat, true)
    loss.backward()
    assert torch.isfinite(flat.grad).all() and loss.item() < 50  # uncapped dynamic weights gave ~1e3
    pred = _spectra(seed=1).requires_grad_(True)
    loss = ps_loss(pred, torch.zeros_like(true))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_losses_float32_under_bf16_autocast(samples):
    """The paper trains in bf16 on GPU; losses and Algorithm 1 must still run in float32 (CPU autocast here)."""
    model = DOSForge(tiny_config(coupling="cross", gap_head="extract"))
    batch = collate(samples[:2])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
        losses = compute_losses(out, batch, {})
    assert out["dos"].dtype == torch.bfloat16 and out["gap"].dtype == torch.float32
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_wd_loss_is_the_metric_over_the_window():
    """The Wasserstein term equals dosforge.metrics.wasserstein_bins / T, so it is 0 on a perfect prediction and
    grows linearly with how far a peak is misplaced."""
    import numpy as np

    from dosforge.metrics import wasserstein_bins
    from dosforge.model.losses import wd_loss

    t = 256
    true = torch.zeros(2, t)
    true[0, 100], true[1, 40:60] = 3.0, 1.0
    for shift in (0, 4, 16):
        pred = torch.roll(true, shift, dims=-1)
        expected = wasserstein_bins(pred.numpy(), true.numpy()).mean() / t
        assert float(wd_loss(pred, true)) == pytest.approx(expected, abs=1e-5)
        assert float(wd_loss(pred, true)) == pytest.approx(shift / t, abs=1e-5)
    noisy = torch.tensor(np.random.default_rng(0).normal(size=(2, t)), dtype=torch.float32, requires_grad=True)
    wd_loss(noisy, true).backward()  # negative bins count as empty, and the gradient stays finite
    assert torch.isfinite(noisy.grad).all()


def test_wd_term_denormalises_with_the_normaliser(samples):
    from dosforge.normalize import Normalizer

    model = DOSForge(tiny_config(coupling="cross", gap_head="pool"))
    raw = collate(samples)
    stats = {
        "dos": {"clip": 1e9, "mean": 0.5, "std": 2.0},
        "epdos": {},
        "epdos_default": {"clip": 1e9, "mean": 0.1, "std": 0.5},
        "fermi": {"mean": 0.0, "std": 1.0},
        "gap": {"mean": 0.0, "std": 1.0},
    }
    normalizer = Normalizer(stats)
    batch = collate(samples, normalizer)
    out = model(batch)
    with pytest.raises(ValueError, match="lambda_wd needs the normaliser"):
        compute_losses(out, batch, {"lambda_wd": 1.0})
    base = compute_losses(out, batch, {"lambda_wd": 0.0}, normalizer)
    with_wd = compute_losses(out, batch, {"lambda_wd": 2.0}, normalizer)
    from dosforge.model.losses import wd_loss

    expected = 2.0 * wd_loss(normalizer.denorm_dos(out["dos"]), raw.dos)
    assert torch.isclose(with_wd["dos"] - base["dos"], expected.detach(), rtol=1e-4)
    assert with_wd["epdos"] > base["epdos"]
