"""The encoder layers compute the published iComFormer formulas (concatenation form, per-edge lattice terms).

Our layers split the first Linear of each MLP over its concatenated input and compute node/graph parts
once; these tests evaluate the published formulas literally with the same weights and compare.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from dosforge.model.encoder import ComformerConv, ComformerEdgeConv


def _randomise_bn(module):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return module.eval()


@pytest.mark.parametrize("h", [1, 2])
def test_node_layer_matches_published_formula(h):
    d, n, e_count = 8, 6, 20
    conv = _randomise_bn(ComformerConv(d, h))
    x, edge_attr = torch.randn(n, d), torch.randn(e_count, d)
    edge_index = torch.randint(0, n, (2, e_count))
    src, dst = edge_index
    with torch.no_grad():
        got = conv(x, edge_index, edge_attr)
        q, k, v = (lin(x).view(-1, h, d) for lin in (conv.lin_query, conv.lin_key, conv.lin_value))
        e = conv.lin_edge(edge_attr).view(-1, h, d)
        key_j = conv.key_update(torch.cat([k[dst], k[src], e], dim=-1))  # published message(): key_i, key_j, edge
        alpha = q[dst] * key_j / math.sqrt(d)
        msg = conv.msg_update(torch.cat([v[dst], v[src], e], dim=-1))
        msg = msg * torch.sigmoid(conv.bn_att(alpha.view(-1, d)).view(-1, h, d))
        agg = torch.zeros(n, h, d).index_add_(0, dst, msg)
        want = F.softplus(x + conv.bn(conv.lin_concat(agg.view(-1, h * d))))
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("h", [1, 2])
def test_edge_update_matches_published_formula(h):
    d, e_count, b = 8, 10, 2
    conv = _randomise_bn(ComformerEdgeConv(d, h))
    edge = torch.randn(e_count, d)
    lat_len_graph = torch.randn(b, 3, d)
    lat_angle = torch.randn(e_count, 3, d)
    edge_graph = torch.randint(0, b, (e_count,))
    with torch.no_grad():
        got = conv(edge, lat_len_graph, lat_angle, edge_graph)
        lat_len = lat_len_graph[edge_graph]  # published: lattice lengths carried by every edge
        q = conv.lin_query(edge).view(-1, 1, h, d).repeat(1, 3, 1, 1)
        k = conv.lin_key(edge).view(-1, 1, h, d).repeat(1, 3, 1, 1)
        v = conv.lin_value(edge).view(-1, 1, h, d).repeat(1, 3, 1, 1)
        # published: lin_key_e{1,2,3} / lin_value_e{1,2,3} straight on each lattice length's features
        k_y = torch.stack([conv.lin_key_l[i](lat_len[:, i]) for i in range(3)], 1).view(-1, 3, h, d)
        v_y = torch.stack([conv.lin_value_l[i](lat_len[:, i]) for i in range(3)], 1).view(-1, 3, h, d)
        e = conv.lin_edge(lat_angle).view(-1, 3, h, d)
        key = conv.key_update(torch.cat([k, k_y, e], dim=-1))
        alpha = q * key / math.sqrt(d)
        out = conv.msg_update(torch.cat([v, v_y, e], dim=-1))
        out = out * torch.sigmoid(conv.bn_att(alpha.view(-1, d)).view(-1, 3, h, d))
        out = conv.lin_concat(out.view(-1, 3, h * d)).sum(1)
        want = F.softplus(edge + conv.bn(out))
    assert torch.allclose(got, want, atol=1e-5)
