"""The full 4-task cross-conditioned model can fit a tiny batch: the training loss falls by at least 90%."""

import torch
from model_testkit import tiny_config

from dosforge.model import DOSForge, LossConfig, collate, compute_losses


def test_tiny_batch_overfits(samples):
    torch.manual_seed(0)
    model = DOSForge(tiny_config(coupling="cross", gap_head="pool"))
    batch = collate(samples[:2])  # TiO2 and NaCl: 2 DOS, 4 EPDOS rows, 2 E_F, 2 gaps
    cfg = LossConfig()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    first = last = None
    for _ in range(120):
        opt.zero_grad()
        loss = compute_losses(model(batch), batch, cfg)["total"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        first = loss.item() if first is None else first
        last = loss.item()
    assert last <= 0.1 * first, f"loss fell only from {first:.4f} to {last:.4f}"
