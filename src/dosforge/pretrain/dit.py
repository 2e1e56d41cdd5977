"""A Diffusion Transformer over per-atom latent tokens with adaLN-Zero time conditioning (Peebles & Xie 2023).

Written from the DiT paper (section 3.2 "adaLN-Zero block") and the seed paper's description (4.2.2):
tokens = atoms (padded per crystal), input Linear(d_x, d_model) plus a fixed sinusoidal embedding of the
atom index; the time t in [0, 1] enters through a sinusoidal embedding and an MLP; each block regresses
shift/scale/gate for attention and MLP from it, zero-initialised so every block starts as the identity;
the final layer (adaLN + Linear(d_model, d_x)) is zero-initialised too, so the untrained DiT outputs 0.
Conditioning is time only, as in the released code. Padding tokens are masked in attention and zeroed.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoid(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """[..., dim] sinusoidal features of the scalars x (cos half, sin half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=x.device) / half)
    args = x.float().unsqueeze(-1) * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class TimeEmbedding(nn.Module):
    def __init__(self, d_model: int, n_freq: int = 256):
        super().__init__()
        self.n_freq = n_freq
        self.mlp = nn.Sequential(nn.Linear(n_freq, d_model), nn.SiLU(), nn.Linear(d_model, d_model))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoid(t * 1000.0, self.n_freq))  # t in [0, 1] scaled to the usual step range


class DiTBlock(nn.Module):
    def __init__(self, d_model: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(d_model, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model),
            nn.GELU(approximate="tanh"),
            nn.Linear(mlp_ratio * d_model, d_model),
        )
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 6 * d_model))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=-1)
        h = modulate(self.norm1(x), shift1, scale1)
        h = self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        x = x + gate1.unsqueeze(1) * h
        return x + gate2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift2, scale2))


class DiT(nn.Module):
    def __init__(self, d_x: int, d_model: int = 768, heads: int = 12, layers: int = 12, mlp_ratio: int = 4):
        super().__init__()
        self.d_model = d_model
        self.embed = nn.Linear(d_x, d_model)
        self.time = TimeEmbedding(d_model)
        self.blocks = nn.ModuleList(DiTBlock(d_model, heads, mlp_ratio) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 2 * d_model))
        self.out = nn.Linear(d_model, d_x)
        for layer in (self.final_ada[1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x (B, N, d_x) noisy latents, t (B,), valid (B, N) bool -> predicted clean latents (B, N, d_x)."""
        index = torch.arange(x.shape[1], device=x.device)
        h = self.embed(x) + sinusoid(index, self.d_model).unsqueeze(0)
        c = self.time(t)
        pad = ~valid
        for block in self.blocks:
            h = block(h, c, pad)
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        return self.out(modulate(self.final_norm(h), shift, scale)) * valid.unsqueeze(-1)
