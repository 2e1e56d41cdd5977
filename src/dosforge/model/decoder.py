"""Spectral decoder pieces (paper appendix A.1): attention, the pre-LN block, unpatchify head.

Token sequences are dense: z has shape (S, N_p, d) where S is graphs (DOS) or element groups (EPDOS).
Keys/values are dense padded atom embeddings (S, n_max, d) with a boolean mask (S, n_max): for an EPDOS
group only that element's atoms of that material are present, so masking is exact by construction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import to_dense_batch


class MultiHeadAttention(nn.Module):
    """Multi-head attention; `gate="sigmoid"` is eq. 2 (no normalisation over keys), `"softmax"` is standard."""

    def __init__(self, d: int, heads: int, head_dim: int, gate: str):
        super().__init__()
        if gate not in ("sigmoid", "softmax"):
            raise ValueError(f"gate must be sigmoid or softmax, got {gate!r}")
        self.heads, self.head_dim, self.gate = heads, head_dim, gate
        inner = heads * head_dim
        self.q = nn.Linear(d, inner)
        self.k = nn.Linear(d, inner)
        self.v = nn.Linear(d, inner)
        self.out = nn.Linear(inner, d)  # the usual output projection (eq. 2 folds it into W_V)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        s, n, _ = x.shape
        return x.view(s, n, self.heads, self.head_dim).transpose(1, 2)  # (S, h, n, dh)

    def forward(self, query: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self._split(self.q(query)), self._split(self.k(kv)), self._split(self.v(kv))
        if self.gate == "softmax":
            attn_mask = None if kv_mask is None else kv_mask[:, None, None, :]
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        else:
            w = torch.sigmoid(q @ k.transpose(-1, -2) / self.head_dim**0.5)  # (S, h, N_p, n)
            if kv_mask is not None:
                w = w * kv_mask[:, None, None, :].to(w.dtype)  # padded atoms contribute nothing
            o = w @ v
        s, _, n, _ = o.shape
        return self.out(o.transpose(1, 2).reshape(s, n, self.heads * self.head_dim))


class DecoderBlock(nn.Module):
    """Pre-LN block, eqs. 2-4: sigmoid cross-attention to LN(H) (optional), softmax self-attention, GELU FFN."""

    def __init__(self, d: int, heads: int, head_dim: int, ffn_mult: int, cross: bool = True):
        super().__init__()
        self.has_cross = cross
        if cross:
            self.ln_cross = nn.LayerNorm(d)
            self.cross_attn = MultiHeadAttention(d, heads, head_dim, gate="sigmoid")
        self.ln_self = nn.LayerNorm(d)
        self.self_attn = MultiHeadAttention(d, heads, head_dim, gate="softmax")
        self.ln_ffn = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, ffn_mult * d), nn.GELU(), nn.Linear(ffn_mult * d, d))

    def forward(self, z: torch.Tensor, h_hat: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        if self.has_cross:
            z = z + self.cross_attn(self.ln_cross(z), h_hat, mask)  # eq. 2 (h_hat is already LN(H))
        y = self.ln_self(z)
        z = z + self.self_attn(y, y)  # eq. 3
        return z + self.ffn(self.ln_ffn(z))  # eq. 4


class Unpatchify(nn.Module):
    """Per-token MLP to T/N_p bins, concatenated over the N_p tokens to the T-bin spectrum (A.1)."""

    def __init__(self, d: int, bins_per_patch: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, bins_per_patch))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(z).flatten(1)  # (S, N_p, T/N_p) -> (S, T)


def dense_keys(h_hat: torch.Tensor, index: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Atoms grouped by `index` (graph or element group) into (size, n_max, d) plus a presence mask."""
    order = torch.argsort(index, stable=True)
    return to_dense_batch(h_hat[order], index[order], batch_size=size)


def run_blocks(blocks: nn.ModuleList, z: torch.Tensor, keys: tuple | None) -> torch.Tensor:
    for block in blocks:
        z = block(z, *keys) if block.has_cross else block(z)
    return z
