"""The DOSForge model: iComFormer encoder, coupled DOS/EPDOS decoders, Fermi and gap heads, losses, collate.

Public API:
- `ModelConfig.from_params(params)` (full params dict: `model:`, `grid:`, `loss.gap_k`), `.to_dict()`, `.from_dict()`
- `DOSForge(config)`; `model.set_normalization(normalizer)`; `model(batch) -> dict` with keys among
  `dos` [B,T], `dos_mid`, `epdos` [G,T], `epdos_mid`, `fermi` [B], `gap` [B] (normalised space)
- `collate(samples, normalizer=None, graph_params=None) -> torch_geometric.data.Batch`
- `LossConfig.from_params(params["loss"])`, `compute_losses(out, batch, loss_cfg, normalizer=None) -> dict`
"""

from dosforge.model.batch import collate
from dosforge.model.config import ModelConfig
from dosforge.model.dosforge import DOSForge
from dosforge.model.losses import LossConfig, compute_losses

__all__ = ["DOSForge", "LossConfig", "ModelConfig", "collate", "compute_losses"]
