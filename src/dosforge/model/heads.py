"""Scalar heads: Fermi level (A.3) and the three band-gap heads (3.4 / Table 2).

- `AttentionPoolHead`: eq. 7, alpha_i = softmax_i(q^T h_i / sqrt(d)) over a graph's atoms, then an MLP.
  Used for E_F and for `gap_head: pool` (same design, its own weights).
- `MeanPoolMLPHead`: `gap_head: mlp`, our reading of the paper's ‡ variant ("a separate learnable head"):
  mean of the encoder outputs over a graph's atoms, then an MLP.
- `ExtractGap`: `gap_head: extract`, Algorithm 1 (`dosforge.gap.soft_gap`, no parameters) on the
  *denormalised* predicted DOS, re-standardised with the gap statistics so it is compared with the
  normalised target; gradients flow through the DOS to the encoder.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter, softmax

from dosforge.gap import soft_gap


def _mlp(d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 1))


class AttentionPoolHead(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.query = nn.Parameter(torch.randn(d) / d**0.5)
        self.mlp = _mlp(d)

    def forward(self, h: torch.Tensor, batch_index: torch.Tensor, n_graphs: int) -> torch.Tensor:
        alpha = softmax(h @ self.query / h.shape[-1] ** 0.5, batch_index, num_nodes=h.shape[0], dim=0)
        pooled = scatter(alpha.unsqueeze(-1) * h, batch_index, dim=0, dim_size=n_graphs, reduce="sum")
        return self.mlp(pooled).squeeze(-1)


class MeanPoolMLPHead(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.mlp = _mlp(d)

    def forward(self, h: torch.Tensor, batch_index: torch.Tensor, n_graphs: int) -> torch.Tensor:
        return self.mlp(scatter(h, batch_index, dim=0, dim_size=n_graphs, reduce="mean")).squeeze(-1)


class ExtractGap(nn.Module):
    """Normalised gap from a normalised DOS: norm_gap(soft_gap(denorm_dos(dos)))."""

    def __init__(self, de: float, k: float):
        super().__init__()
        self.de, self.k = de, k

    def forward(self, dos_norm: torch.Tensor, norm: nn.Module) -> torch.Tensor:
        dos = dos_norm.float() * norm.dos_std + norm.dos_mean  # float32: cumsums in bf16 lose the gap edge
        return (soft_gap(dos, self.de, self.k) - norm.gap_mean) / norm.gap_std
