"""The iComFormer encoder (Yan et al., ICLR 2024) in plain torch (DOSForge section 3.3).

As published (ComFormer `iComformer`):
- atom features -> Linear(d); edge length as -0.75/|r| through an RBF on [-4, 0] -> Linear -> Softplus;
- per edge, the three invariant lattice vectors l_k give |l_k| (same RBF branch) and cos(r, l_k)
  (RBF on [-1, 1] -> Linear -> Softplus);
- node layer 1, then the edge-update layer (each edge attends to its three lattice "neighbours"),
  then the remaining node layers; no pooling here: DOSForge decodes from the per-atom embeddings H.
- node layer: key_j updated from (k_i, k_j, e_ij), alpha = q_i * key_j / sqrt(C), message =
  MLP(v_i, v_j, e_ij) * sigmoid(BatchNorm(alpha)), summed over neighbours; out = softplus(x + BN(Linear(msg))).
Every input is a length or a cosine of lattice-invariant vectors, so H is invariant to rotation,
translation, atom order and (through `dosforge.graph`'s primitive lattice vectors) supercells.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dosforge.model.features import RBFExpansion, element_feature_table


def _mlp3(c: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3 * c, c), nn.SiLU(), nn.Linear(c, c))


def _split_first(mlp: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first Linear of MLP([a, b, e]) as W_a, W_b, W_e: W [a; b; e] = W_a a + W_b b + W_e e.

    Lets the a- and b-parts be computed once per node (or per graph) and gathered to edges, instead of
    multiplying every edge's concatenation: the same function with a fraction of the arithmetic.
    """
    w = mlp[0].weight
    c = w.shape[1] // 3
    return w[:, :c], w[:, c : 2 * c], w[:, 2 * c :]


def _mlp3_tail(mlp: nn.Sequential, pre: torch.Tensor) -> torch.Tensor:
    return mlp[2](mlp[1](pre + mlp[0].bias))


def _per_head(w: torch.Tensor, heads: int) -> torch.Tensor:
    """A (c, c) block applied to each of `heads` chunks of a (heads * c) vector, as one block-diagonal matrix."""
    return w if heads == 1 else torch.block_diag(*([w] * heads))


def _edge_terms(lin_edge: nn.Linear, we_key: torch.Tensor, we_msg: torch.Tensor, x: torch.Tensor):
    """(W_k lin_edge(x), W_m lin_edge(x)) in one matmul over the edges, lin_edge folded into both weights.

    Same function as applying lin_edge and then the two first-layer edge blocks; the edge rows (the
    largest operand) are multiplied once by a stacked (2c, d_in) weight instead of three times.
    """
    w = torch.cat([we_key @ lin_edge.weight, we_msg @ lin_edge.weight])
    out = x @ w.T
    if lin_edge.bias is not None:
        out = out + torch.cat([we_key @ lin_edge.bias, we_msg @ lin_edge.bias])
    return out.split(we_key.shape[0], dim=-1)


class ComformerConv(nn.Module):
    """Node-wise transformer layer (published `ComformerConv`): sigmoid-gated, BatchNorm on the attention.

    For an edge j -> i: key_j <- MLP(k_i, k_j, e_ij); alpha = q_i * key_j / sqrt(C);
    m_ij = MLP(v_i, v_j, e_ij) * sigmoid(BN(alpha)); x_i <- softplus(x_i + BN(Linear(sum_j m_ij))).
    """

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads, self.c = heads, d
        self.lin_query = nn.Linear(d, heads * d)
        self.lin_key = nn.Linear(d, heads * d)
        self.lin_value = nn.Linear(d, heads * d)
        self.lin_edge = nn.Linear(d, heads * d)
        self.lin_concat = nn.Linear(heads * d, d)
        self.key_update = _mlp3(d)
        self.msg_update = _mlp3(d)
        self.bn_att = nn.BatchNorm1d(d)
        self.bn = nn.BatchNorm1d(d)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        h, c = self.heads, self.c
        src, dst = edge_index  # messages flow source j -> target i (PyG's source_to_target)
        q = self.lin_query(x).view(-1, h, c)
        k = self.lin_key(x).view(-1, h, c)
        v = self.lin_value(x).view(-1, h, c)
        ka, kb, ke = _split_first(self.key_update)
        va, vb, ve = _split_first(self.msg_update)
        e_key, e_msg = _edge_terms(self.lin_edge, _per_head(ke, h), _per_head(ve, h), edge_attr)
        key = _mlp3_tail(self.key_update, (k @ ka.T)[dst] + (k @ kb.T)[src] + e_key.view(-1, h, c))
        alpha = q[dst] * key / math.sqrt(c)
        msg = _mlp3_tail(self.msg_update, (v @ va.T)[dst] + (v @ vb.T)[src] + e_msg.view(-1, h, c))
        msg = msg * torch.sigmoid(self.bn_att(alpha.reshape(-1, c)).view(-1, h, c))
        # sum aggregation, accumulated in float32 (under bf16 autocast the messages are bf16)
        out = torch.zeros((x.shape[0], h, c), device=x.device).index_add_(0, dst, msg.float())
        out = self.lin_concat(out.view(-1, h * c))
        return nn.functional.softplus(x + self.bn(out))


class ComformerEdgeConv(nn.Module):
    """Edge-update layer (published `ComformerConv_edge`): each edge attends to its three lattice vectors.

    The lattice-length terms depend only on the graph, so they are computed per graph and gathered.
    """

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads, self.c = heads, d
        # The published class also builds an Embedding(3, 32) of "which l_k" and a Linear over [|l_k|; emb],
        # but its forward never uses them: l1, l2, l3 are told apart by their own key/value layers only.
        self.lin_query = nn.Linear(d, heads * d)
        self.lin_key = nn.Linear(d, heads * d)
        self.lin_value = nn.Linear(d, heads * d)
        self.lin_key_l = nn.ModuleList(nn.Linear(d, heads * d) for _ in range(3))
        self.lin_value_l = nn.ModuleList(nn.Linear(d, heads * d) for _ in range(3))
        self.lin_edge = nn.Linear(d, heads * d, bias=False)
        self.lin_concat = nn.Linear(heads * d, d)
        self.key_update = _mlp3(d)
        self.msg_update = _mlp3(d)
        self.bn_att = nn.BatchNorm1d(d)
        self.bn = nn.BatchNorm1d(d)

    def forward(
        self, edge: torch.Tensor, lat_len: torch.Tensor, lat_angle: torch.Tensor, edge_graph: torch.Tensor
    ) -> torch.Tensor:
        """edge (E, d); lat_len (B, 3, d) per graph; lat_angle (E, 3, d); edge_graph (E,) -> edge features (E, d)."""
        h, c = self.heads, self.c
        q = self.lin_query(edge).view(-1, 1, h, c)
        k = self.lin_key(edge).view(-1, h, c)
        v = self.lin_value(edge).view(-1, h, c)
        k_l = torch.stack([f(lat_len[:, i]) for i, f in enumerate(self.lin_key_l)], dim=1).view(-1, 3, h, c)
        v_l = torch.stack([f(lat_len[:, i]) for i, f in enumerate(self.lin_value_l)], dim=1).view(-1, 3, h, c)
        ka, kb, ke = _split_first(self.key_update)
        va, vb, ve = _split_first(self.msg_update)
        e_key, e_msg = _edge_terms(self.lin_edge, _per_head(ke, h), _per_head(ve, h), lat_angle)
        key = _mlp3_tail(self.key_update, (k @ ka.T).unsqueeze(1) + (k_l @ kb.T)[edge_graph] + e_key.view(-1, 3, h, c))
        alpha = q * key / math.sqrt(c)
        msg = _mlp3_tail(self.msg_update, (v @ va.T).unsqueeze(1) + (v_l @ vb.T)[edge_graph] + e_msg.view(-1, 3, h, c))
        msg = msg * torch.sigmoid(self.bn_att(alpha.reshape(-1, c)).view(-1, 3, h, c))
        # sum over the three lattice neighbours before the (linear) output projection: the same value as
        # projecting each and summing (the bias counted three times), with a third of the arithmetic
        out = self.lin_concat(msg.reshape(-1, 3, h * c).sum(dim=1)) + 2 * self.lin_concat.bias
        return nn.functional.softplus(edge + self.bn(out))


class ICoMFormerEncoder(nn.Module):
    """Per-atom embeddings H (N_atoms, d) from a collated batch (`dosforge.model.batch.collate`)."""

    def __init__(self, d: int, layers: int, heads: int, rbf_bins: int, angle_bins: int, atom_features: str = "cgcnn"):
        super().__init__()
        if layers < 1:
            raise ValueError("the encoder needs at least one node layer")
        self.register_buffer("element_table", torch.from_numpy(element_feature_table(atom_features)))
        self.atom_embedding = nn.Linear(self.element_table.shape[1], d)
        self.rbf = nn.Sequential(RBFExpansion(-4.0, 0.0, rbf_bins), nn.Linear(rbf_bins, d), nn.Softplus())
        self.rbf_angle = nn.Sequential(RBFExpansion(-1.0, 1.0, angle_bins), nn.Linear(angle_bins, d), nn.Softplus())
        self.node_layers = nn.ModuleList(ComformerConv(d, heads) for _ in range(layers))
        self.edge_update = ComformerEdgeConv(d, heads)

    def forward(
        self, batch, atom_mask: torch.Tensor | None = None, mask_embedding: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`atom_mask` (N_atoms,) bool with `mask_embedding` (d,): the masked atoms' embedded features are
        replaced by that vector (masked-element pretraining, `dosforge.pretrain`); masked atoms keep their
        true z in the batch. Without a mask the computation is exactly the unmasked one."""
        z, edge_index, r = batch.z, batch.edge_index, batch.edge_vec
        if int(z.max()) >= self.element_table.shape[0] or int(z.min()) < 1:
            raise ValueError(f"atomic numbers must lie in 1..{self.element_table.shape[0] - 1}")
        x = self.atom_embedding(self.element_table[z])
        if atom_mask is not None:
            if mask_embedding is None or mask_embedding.shape != (x.shape[1],) or atom_mask.shape != z.shape:
                raise ValueError("atom_mask needs shape (N_atoms,) and mask_embedding shape (d,)")
            x = torch.where(atom_mask.unsqueeze(1), mask_embedding.to(x.dtype).expand_as(x), x)
        edge_graph = batch.batch[edge_index[0]]
        lat = batch.lattice_vecs[edge_graph]  # (E, 3, 3): each edge's graph's l1, l2, l3
        r_len = r.norm(dim=-1)
        edge = self.rbf(-0.75 / r_len)
        lat_len = self.rbf(-0.75 / batch.lattice_vecs.norm(dim=-1))  # (B, 3, d): per graph
        cos = (lat * r.unsqueeze(1)).sum(-1) / (lat.norm(dim=-1) * r_len.unsqueeze(1))
        lat_angle = self.rbf_angle(cos.clamp(-1.0, 1.0))
        x = self.node_layers[0](x, edge_index, edge)
        edge = self.edge_update(edge, lat_len, lat_angle, edge_graph)
        for layer in self.node_layers[1:]:
            x = layer(x, edge_index, edge)
        return x
