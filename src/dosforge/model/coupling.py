"""DOS / EPDOS decoders and the four couplings of Figure 2 (paper appendix A.2).

Our reading of A.2 (stated in docs/model.md):
- `parallel`: each branch runs L1 blocks on its own ("each branch runs 2 blocks independently"); no exchange.
- `epdos_to_dos`: EPDOS runs L1 blocks -> its prediction; the element streams are scatter-summed per graph
  (eq. 5) to initialise the DOS tokens, which run L2 self-attention-only blocks (no cross-attention:
  the aggregation already carries the atoms) -> DOS prediction.
- `dos_to_epdos`: DOS runs L1 blocks -> its prediction; the DOS stream is broadcast to each element group
  (eq. 6), which runs L2 blocks with element-masked cross-attention -> EPDOS prediction.
- `cross`: both run L1 blocks -> mid predictions; the streams swap (DOS <- sum of element streams,
  each element group <- the DOS stream); L2 blocks as above -> final predictions. Intermediate
  predictions (and so the mid losses) exist for `cross` only ("cross-conditioning only").
- A model with one spectral task runs that branch's L1 blocks (as one branch of `parallel`).
Both branches start from the same learnable patch tokens; each branch has its own LayerNorm of H,
its own blocks and its own unpatchify head, shared between its mid and final predictions (A.1).
"""

from __future__ import annotations

import torch
from torch import nn

from dosforge.model.decoder import DecoderBlock, Unpatchify, dense_keys, run_blocks


class SpectralDecoder(nn.Module):
    def __init__(self, d: int, bins: int, tasks: tuple[str, ...], coupling: str | None, dec: dict):
        super().__init__()
        self.has_dos, self.has_epdos = "dos" in tasks, "epdos" in tasks
        self.coupling = coupling if (self.has_dos and self.has_epdos) else None
        n_p = dec["n_patches"]
        self.tokens = nn.Parameter(torch.randn(n_p, d) * 0.02)  # shared initialisation for both branches

        def blocks(n: int, cross: bool) -> nn.ModuleList:
            return nn.ModuleList(
                DecoderBlock(d, dec["heads"], dec["head_dim"], dec["ffn_mult"], cross) for _ in range(n)
            )

        c = self.coupling
        if self.has_dos:
            self.dos_head = Unpatchify(d, bins // n_p)
            if c != "epdos_to_dos":  # DOS reads the atoms directly in its first stage
                self.ln_h_dos = nn.LayerNorm(d)
                self.dos_l1 = blocks(dec["l1"], cross=True)
            if c in ("epdos_to_dos", "cross"):  # after the exchange DOS refines with self-attention only
                self.dos_l2 = blocks(dec["l2"], cross=False)
        if self.has_epdos:
            self.ln_h_epdos = nn.LayerNorm(d)
            self.epdos_head = Unpatchify(d, bins // n_p)
            if c != "dos_to_epdos":
                self.epdos_l1 = blocks(dec["l1"], cross=True)
            if c in ("dos_to_epdos", "cross"):
                self.epdos_l2 = blocks(dec["l2"], cross=True)

    @property
    def has_exchange(self) -> bool:
        return self.coupling in ("epdos_to_dos", "dos_to_epdos", "cross")

    def forward(self, h: torch.Tensor, batch) -> dict[str, torch.Tensor]:
        n_graphs = int(batch.num_graphs)
        out: dict[str, torch.Tensor] = {}
        if hasattr(self, "ln_h_dos"):
            dos_keys = dense_keys(self.ln_h_dos(h), batch.batch, n_graphs)
        if self.has_epdos:
            n_groups = int(batch.group_z.shape[0])
            epdos_keys = dense_keys(self.ln_h_epdos(h), batch.group_of_atom, n_groups)
            z_ep0 = self.tokens.unsqueeze(0).expand(n_groups, -1, -1)
        z_d0 = self.tokens.unsqueeze(0).expand(n_graphs, -1, -1)
        c = self.coupling

        if c is None or c == "parallel":
            if self.has_dos:
                out["dos"] = self.dos_head(run_blocks(self.dos_l1, z_d0, dos_keys))
            if self.has_epdos:
                out["epdos"] = self.epdos_head(run_blocks(self.epdos_l1, z_ep0, epdos_keys))
            return out

        group_graph = batch.group_graph
        if c == "epdos_to_dos":
            z_ep = run_blocks(self.epdos_l1, z_ep0, epdos_keys)
            out["epdos"] = self.epdos_head(z_ep)
            z_d = self.scatter_groups(z_ep, group_graph, n_graphs)  # eq. 5
            out["dos"] = self.dos_head(run_blocks(self.dos_l2, z_d, None))
        elif c == "dos_to_epdos":
            z_d = run_blocks(self.dos_l1, z_d0, dos_keys)
            out["dos"] = self.dos_head(z_d)
            z_ep = z_d[group_graph]  # eq. 6
            out["epdos"] = self.epdos_head(run_blocks(self.epdos_l2, z_ep, epdos_keys))
        else:  # cross
            z_d = run_blocks(self.dos_l1, z_d0, dos_keys)
            z_ep = run_blocks(self.epdos_l1, z_ep0, epdos_keys)
            out["dos_mid"], out["epdos_mid"] = self.dos_head(z_d), self.epdos_head(z_ep)
            z_d_init = self.scatter_groups(z_ep, group_graph, n_graphs)  # eq. 5
            z_ep_init = z_d[group_graph]  # eq. 6
            out["dos"] = self.dos_head(run_blocks(self.dos_l2, z_d_init, None))
            out["epdos"] = self.epdos_head(run_blocks(self.epdos_l2, z_ep_init, epdos_keys))
        return out

    @staticmethod
    def scatter_groups(z_ep: torch.Tensor, group_graph: torch.Tensor, n_graphs: int) -> torch.Tensor:
        out = z_ep.new_zeros((n_graphs, *z_ep.shape[1:]))
        return out.index_add(0, group_graph, z_ep)
