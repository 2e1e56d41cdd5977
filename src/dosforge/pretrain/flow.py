"""Stage 2: latent flow matching (paper 4.2.2, Eq. 5; path and weights as in the released code).

Clean latent z1 = the encoder's per-atom output on unmasked input, as padded tokens. Noise z0 ~ N(0, I),
centred over each crystal's valid tokens (the code centres over the padding too; a departure without
effect on valid tokens' statistics). t ~ U[min_t, 1 - min_t] per crystal; z_t = (1 - t) z0 + t z1.
The DiT predicts z1 from (z_t, t); loss = mean over crystals of w(t) * sum over valid tokens and
dimensions of (z1_hat - z1)^2 / (n_valid * d), with w(t) = 1 / (1 - min(t, t_clip))^2.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import to_dense_batch


def sample_t(n: int, min_t: float, device=None, generator=None) -> torch.Tensor:
    return torch.rand(n, device=device, generator=generator) * (1.0 - 2.0 * min_t) + min_t


def centred_noise(shape, valid: torch.Tensor, generator=None) -> torch.Tensor:
    noise = torch.randn(shape, device=valid.device, generator=generator) * valid.unsqueeze(-1)
    mean = noise.sum(1, keepdim=True) / valid.sum(1).clamp(min=1).view(-1, 1, 1)
    return (noise - mean) * valid.unsqueeze(-1)


def loss_weight(t: torch.Tensor, t_clip: float) -> torch.Tensor:
    return 1.0 / (1.0 - t.clamp(max=t_clip)) ** 2


def flow_loss(z1_hat, z1, t, valid, t_clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted loss, unweighted MSE), both means over crystals of per-crystal means over valid entries."""
    sq = ((z1_hat - z1) ** 2 * valid.unsqueeze(-1)).sum((1, 2)) / (valid.sum(1) * z1.shape[-1])
    return (loss_weight(t, t_clip) * sq).mean(), sq.mean()


class LatentFlow(nn.Module):
    """Encoder + DiT trained jointly on the flow-matching loss alone (no stop-gradient on z1, as the code)."""

    def __init__(self, encoder: nn.Module, dit: nn.Module, min_t: float = 0.01, t_clip: float = 0.9):
        super().__init__()
        self.encoder, self.dit, self.min_t, self.t_clip = encoder, dit, min_t, t_clip

    def forward(self, batch, extras: dict | None = None) -> dict[str, torch.Tensor]:
        z1, valid = to_dense_batch(self.encoder(batch), batch.batch)
        t = sample_t(z1.shape[0], self.min_t, device=z1.device)
        z0 = centred_noise(z1.shape, valid)
        tt = t.view(-1, 1, 1)
        zt = ((1 - tt) * z0 + tt * z1) * valid.unsqueeze(-1)
        loss, mse = flow_loss(self.dit(zt, t, valid), z1, t, valid, self.t_clip)
        return {"loss": loss, "mse": mse}
