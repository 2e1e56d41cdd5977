"""`DOSForge`: iComFormer encoder + coupled DOS/EPDOS decoders + Fermi and gap heads (paper section 3.3).

Only the parts the configured tasks need are built (a single-task model has one branch or one head).
All outputs are in normalised space; `set_normalization` copies the DOS and gap statistics into buffers
so that `gap_head: extract` can run Algorithm 1 on the denormalised DOS (and so a checkpoint carries them).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dosforge.model.config import ModelConfig
from dosforge.model.coupling import SpectralDecoder
from dosforge.model.encoder import ICoMFormerEncoder
from dosforge.model.heads import AttentionPoolHead, ExtractGap, MeanPoolMLPHead


class NormStats(nn.Module):
    """DOS mean/std and gap mean/std as buffers (defaults 0/1 until `DOSForge.set_normalization`)."""

    def __init__(self):
        super().__init__()
        for name, value in (("dos_mean", 0.0), ("dos_std", 1.0), ("gap_mean", 0.0), ("gap_std", 1.0)):
            self.register_buffer(name, torch.tensor(value))


def _affine(denorm, name: str) -> tuple[float, float]:
    """(mean, std) of a standardisation, read off its inverse x -> x * std + mean at 0 and 1."""
    a, b = (float(np.asarray(denorm(np.array([v], dtype=np.float64))).reshape(-1)[0]) for v in (0.0, 1.0))
    if not (np.isfinite(a) and np.isfinite(b) and b > a):
        raise ValueError(f"normaliser's {name} is not an increasing affine map (got {a} at 0, {b} at 1)")
    return a, b - a


class DOSForge(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        enc, tasks, d = config.encoder, config.tasks, config.d
        self.encoder = ICoMFormerEncoder(
            d, enc["layers"], enc["heads"], enc["rbf_bins"], enc["angle_bins"], config.atom_features
        )
        self.norm = NormStats()
        self.decoder = (
            SpectralDecoder(d, config.bins, tasks, config.spectral_coupling, config.decoder)
            if ("dos" in tasks or "epdos" in tasks)
            else None
        )
        self.fermi_head = AttentionPoolHead(d) if "fermi" in tasks else None
        self.gap_head = None
        if "gap" in tasks:
            self.gap_head = {
                "extract": lambda: ExtractGap(config.de, config.gap_k),
                "mlp": lambda: MeanPoolMLPHead(d),
                "pool": lambda: AttentionPoolHead(d),
            }[config.gap_head]()

    def set_normalization(self, normalizer) -> None:
        """Copy the DOS and gap standardisation from a `dosforge.normalize.Normalizer` (train-split statistics).

        Read through its public `denorm_dos` / `denorm_gap` methods, so only their contract matters. Call it
        before training; the values are saved with the weights. Only `gap_head: extract` uses them.
        """
        values = {}
        values["dos_mean"], values["dos_std"] = _affine(normalizer.denorm_dos, "denorm_dos")
        values["gap_mean"], values["gap_std"] = _affine(normalizer.denorm_gap, "denorm_gap")
        for name, value in values.items():
            getattr(self.norm, name).fill_(value)

    def forward(self, batch) -> dict[str, torch.Tensor]:
        h = self.encoder(batch)
        n_graphs = int(batch.num_graphs)
        out = self.decoder(h, batch) if self.decoder is not None else {}
        if self.fermi_head is not None:
            out["fermi"] = self.fermi_head(h, batch.batch, n_graphs)
        if isinstance(self.gap_head, ExtractGap):
            out["gap"] = self.gap_head(out["dos"], self.norm)
        elif self.gap_head is not None:
            out["gap"] = self.gap_head(h, batch.batch, n_graphs)
        return out
