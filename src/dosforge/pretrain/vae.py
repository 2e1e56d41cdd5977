"""Stage 1: the encoder as a VAE over per-atom latents, with three linear reconstruction heads (paper 4.2.1).

Shapes from the released code (the seed's text drops Eqs. 2-4): H = encoder(masked input) (N, d);
[mu, log var] = Linear(d, 2d, bias=False)(H), log var clamped to [-30, 20]; z = mu + sigma * eps.
Heads on z: element logits (cross-entropy at masked sites only), fractional coordinates (L1, periodic:
|d - round(d)|), the 3x3 lattice from the mean-pooled z (L1). Loss CE + L1 + L1 + kl_weight * KL with
KL = mean over atoms of 0.5 * sum_c (mu^2 + sigma^2 - 1 - log sigma^2). Targets: `corpus.targets`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter

from dosforge.model.features import MAX_Z


def periodic_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |d - round(d)| of fractional differences: 0.9 and 0.1 are 0.2 apart, not 0.8."""
    d = pred - target
    return (d - torch.round(d)).abs().mean()


class EncoderVAE(nn.Module):
    def __init__(self, encoder: nn.Module, d: int, kl_weight: float = 1e-5):
        super().__init__()
        self.encoder = encoder
        self.kl_weight = kl_weight
        # the mask token of our element table (the code's one-hot index 0 after its input Linear)
        self.mask_embedding = nn.Parameter(torch.zeros(d))
        self.quant_conv = nn.Linear(d, 2 * d, bias=False)
        self.atom_head = nn.Linear(d, MAX_Z + 1)  # class = Z (index 0 unused)
        self.coord_head = nn.Linear(d, 3)
        self.lattice_head = nn.Linear(d, 9)

    def posterior(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.quant_conv(h).chunk(2, dim=-1)
        return mu, logvar.clamp(-30.0, 20.0)

    def forward(self, batch, extras: dict) -> dict[str, torch.Tensor]:
        mask = extras["atom_mask"]
        h = self.encoder(batch, atom_mask=mask, mask_embedding=self.mask_embedding)
        mu, logvar = self.posterior(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.atom_head(z)[mask]
        ce = F.cross_entropy(logits, batch.z[mask])
        coords = periodic_l1(self.coord_head(z), extras["frac"])
        pooled = scatter(z, batch.batch, dim=0, dim_size=int(batch.num_graphs), reduce="mean")
        lattice = (self.lattice_head(pooled).view(-1, 3, 3) - extras["lattice"]).abs().mean()
        kl = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)).mean()
        total = ce + coords + lattice + self.kl_weight * kl
        acc = (logits.argmax(-1) == batch.z[mask]).float().mean()
        return {"loss": total, "atom_ce": ce, "coords_l1": coords, "lattice_l1": lattice, "kl": kl, "atom_acc": acc}


def baselines(items: list[dict]) -> dict[str, float]:
    """What predictors that ignore the structure reach: the most common element at masked sites, the
    per-component mean lattice, and a constant fractional coordinate 0.5 (periodic L1; uniform: 0.25)."""
    z = torch.cat([torch.as_tensor(it["z"]) for it in items])
    frac = torch.cat([torch.as_tensor(it["frac_target"]) for it in items])
    lat = torch.stack([torch.as_tensor(it["lattice_target"]) for it in items])
    return {
        "atom_acc_majority": float((z == z.mode().values).float().mean()),
        "coords_l1_const": float(periodic_l1(torch.full_like(frac, 0.5), frac)),
        "lattice_l1_mean": float((lat - lat.mean(0)).abs().mean()),
    }
