"""DOSTransformer (Lee, Noh et al., NeurIPS 2023; supplement C–E, Algorithm 1), implemented from the paper and
`shared/notes/dostransformer.md`, never from the unlicensed released code. Every choice where the paper is silent
and every departure from the released code is listed in docs/dostransformer.md.

Shapes (B materials, N atoms in the batch, n padded atom slots per material, M energy tokens, d hidden):
- graph network: node features (N, F_atom) and edge features (E, F_edge) -> H (N, d), L′ residual layers;
- H is scattered into (B, n, d) with a boolean key mask (B, n) so a padded slot never enters any softmax;
- energy tokens E⁰ = Embedding(M, d) -> L1 cross-attention over H -> [E¹; g] (global branch) or [E¹; g; P_s]
  (system branch, P = Embedding(7, d/2)) -> φ1 / φ2 + leaky ReLU -> L2 self-attention -> L3 cross-attention over H
  -> Linear(d, 1) per token: (B, M).
Both branches share L2, L3 and the output layer; only the system branch predicts (supplement E.5).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

N_SYSTEMS = 7  # cubic, hexagonal, tetragonal, trigonal, orthorhombic, monoclinic, triclinic (dosforge.split)


@dataclass(frozen=True)
class DOSTransformerConfig:
    n_tokens: int = 256  # M: one token per energy bin of the grid
    d: int = 256
    mp_layers: int = 3  # L′
    l1: int = 2
    l2: int = 2
    l3: int = 2
    ffn_mult: int = 4
    atom_dim: int = 200  # matscholar
    edge_dim: int = 41  # Gaussians
    prompt: bool = True  # crystal-system prompt and the system branch
    beta: float = 1.0  # loss weight of the system branch

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DOSTransformerConfig:
        return cls(**d)


def _mlp(n_in: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, d), nn.PReLU(), nn.Linear(d, d))


def _mlp_ln(n_in: int, hidden: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LayerNorm(hidden), nn.PReLU(), nn.Linear(hidden, d))


class ProcessorLayer(nn.Module):
    """b′ = MLP_e([h_src; h_dst; b]); h′ = MLP_n([h; Σ_{edges into i} b′]); h ← h + h′, b ← b + b′ (supplement C)."""

    def __init__(self, d: int):
        super().__init__()
        self.edge_mlp = _mlp_ln(3 * d, 2 * d, d)
        self.node_mlp = _mlp_ln(2 * d, 2 * d, d)

    def forward(self, h, b, src, dst):
        b_new = self.edge_mlp(torch.cat([h[src], h[dst], b], dim=-1))
        agg = torch.zeros_like(h).index_add_(0, dst, b_new)  # sum aggregation (paper)
        h_new = self.node_mlp(torch.cat([h, agg], dim=-1))
        return h + h_new, b + b_new


class AttentionLayer(nn.Module):
    """Pre-LN attention block with the paper's projection-free attention (eq. 2), softmax(x̂ k̂ᵀ/√d) k̂, then a
    ReLU feed-forward block, each with a residual. One LayerNorm normalises queries and keys/values (released
    code; the paper is silent). `key_mask` (B, Lk) True marks real slots: padded slots get zero weight."""

    def __init__(self, d: int, ffn_mult: int):
        super().__init__()
        self.ln_attn = nn.LayerNorm(d)
        self.ln_ffn = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn_mult * d)
        self.fc2 = nn.Linear(ffn_mult * d, d)
        nn.init.xavier_uniform_(self.fc1.weight)
        nn.init.xavier_uniform_(self.fc2.weight)
        nn.init.zeros_(self.fc1.bias)
        nn.init.zeros_(self.fc2.bias)
        self.scale = 1.0 / math.sqrt(d)

    def forward(self, x, kv, key_mask=None):
        q, k = self.ln_attn(x), self.ln_attn(kv)
        scores = torch.bmm(q, k.transpose(1, 2)) * self.scale  # (B, Lq, Lk)
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, :], float("-inf"))
        x = x + torch.bmm(torch.softmax(scores, dim=-1), k)
        return x + self.fc2(F.relu(self.fc1(self.ln_ffn(x))))


class AttentionStack(nn.Module):
    """`layers` AttentionLayers and a final LayerNorm. cross: keys/values are the fixed `kv`; self (kv None): the
    keys/values are the evolving tokens (the paper's eq. 3; the released code keeps the stack's input, Q3)."""

    def __init__(self, d: int, layers: int, ffn_mult: int):
        super().__init__()
        self.layers = nn.ModuleList(AttentionLayer(d, ffn_mult) for _ in range(layers))
        self.ln_out = nn.LayerNorm(d)

    def forward(self, x, kv=None, key_mask=None):
        for layer in self.layers:
            x = layer(x, x if kv is None else kv, key_mask)
        return self.ln_out(x)


class DOSTransformer(nn.Module):
    family = "dostransformer"

    def __init__(self, config: DOSTransformerConfig):
        super().__init__()
        self.config = config
        d = config.d
        self.node_encoder = _mlp(config.atom_dim, d)
        self.edge_encoder = _mlp(config.edge_dim, d)
        self.processor = nn.ModuleList(ProcessorLayer(d) for _ in range(config.mp_layers))
        self.graph_decoder = nn.Linear(d, d)  # g = Linear(Σ_i h_i): sum pooling (supplement), no DFT inputs
        self.energy = nn.Embedding(config.n_tokens, d)
        self.cross1 = AttentionStack(d, config.l1, config.ffn_mult)
        self.self2 = AttentionStack(d, config.l2, config.ffn_mult)
        self.cross3 = AttentionStack(d, config.l3, config.ffn_mult)
        self.phi_global = nn.Linear(2 * d, d)
        self.out = nn.Linear(d, 1)
        if config.prompt:
            self.prompt = nn.Embedding(N_SYSTEMS, d // 2)
            self.phi_system = nn.Linear(2 * d + d // 2, d)
            # which crystal systems the training set had; an unseen one is prompted with the mean of their rows
            self.register_buffer("trained_systems", torch.ones(N_SYSTEMS, dtype=torch.bool))

    # -- pieces -----------------------------------------------------------------------------------------------
    def encode(self, batch):
        h = self.node_encoder(batch.x)
        b = self.edge_encoder(batch.edge_attr)
        for layer in self.processor:
            h, b = layer(h, b, batch.src, batch.dst)
        return h

    def prompts_for(self, system: torch.Tensor) -> torch.Tensor:
        """(B, d/2) prompt rows; systems absent from training get the mean of the trained rows (paper, supplement B)."""
        table = self.prompt.weight
        trained = self.trained_systems
        if not bool(trained.all()):
            mean = table[trained].mean(0, keepdim=True) if bool(trained.any()) else torch.zeros_like(table[:1])
            table = torch.where(trained[:, None], table, mean)
        return table[system]

    def _branch(self, z, h_dense, mask):
        z = self.self2(F.leaky_relu(z))
        z = self.cross3(z, h_dense, mask)
        return self.out(z).squeeze(-1)

    def forward(self, batch) -> dict[str, torch.Tensor]:
        h = self.encode(batch)  # (N, d)
        B = int(batch.num_graphs)
        n_max = int(batch.n_atoms.max())
        slot = batch.slot  # position of each atom inside its material
        h_dense = h.new_zeros(B, n_max, h.shape[-1]).index_put((batch.node_graph, slot), h)
        mask = torch.zeros(B, n_max, dtype=torch.bool, device=h.device).index_put(
            (batch.node_graph, slot), torch.ones_like(slot, dtype=torch.bool)
        )
        pooled = torch.zeros(B, h.shape[-1], dtype=h.dtype, device=h.device).index_add_(0, batch.node_graph, h)
        g = self.graph_decoder(pooled)  # (B, d)
        M = self.config.n_tokens
        e0 = self.energy.weight[None].expand(B, M, -1)
        e1 = self.cross1(e0, h_dense, mask)
        g_tok = g[:, None, :].expand(B, M, -1)
        out = {"dos_global": self._branch(self.phi_global(torch.cat([e1, g_tok], -1)), h_dense, mask)}
        if self.config.prompt:
            p = self.prompts_for(batch.system)[:, None, :].expand(B, M, -1)
            out["dos_system"] = self._branch(self.phi_system(torch.cat([e1, g_tok, p], -1)), h_dense, mask)
        out["dos"] = out.get("dos_system", out["dos_global"])  # the prediction: the system branch when there is one
        return out


def rmse_per_material(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean_b sqrt(mean_j (ŷ_bj − y_bj)²) (supplement Algorithm 1)."""
    return ((pred - target) ** 2).mean(-1).clamp_min(1e-12).sqrt().mean()


def dostransformer_loss(out: dict, target: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
    """RMSE_global + β RMSE_system (the system term only with prompts); `dos` is the predicting branch's RMSE."""
    glob = rmse_per_material(out["dos_global"], target)
    losses = {"dos_global": glob}
    total = glob
    if "dos_system" in out:
        sys_ = rmse_per_material(out["dos_system"], target)
        losses["dos_system"] = sys_
        total = glob + beta * sys_
    losses["dos"] = losses.get("dos_system", glob)
    losses["total"] = total
    return losses
