"""Masked-element dataset for stage 1 (paper 4.2.1; the released code's DPF-style masking).

Each structure gets max(1, ceil(ratio * n)) masked sites, drawn ONCE when the dataset is built from
(seed, structure index), so every epoch sees the same mask. Cells with fewer than `min_sites` sites are
skipped (counted): masking their only site would leave nothing to reconstruct from. Masked atoms keep
their true z in the batch (the encoder replaces their embedded features by the learnable mask vector);
the VAE's element head is scored at the masked sites only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from dosforge.model import collate


def n_masked(n_sites: int, ratio: float) -> int:
    return max(1, math.ceil(ratio * n_sites))


def draw_mask(n_sites: int, ratio: float, seed: int, index: int) -> np.ndarray:
    rng = np.random.default_rng([int(seed), int(index)])
    mask = np.zeros(n_sites, dtype=bool)
    mask[rng.choice(n_sites, size=n_masked(n_sites, ratio), replace=False)] = True
    return mask


class MaskedDataset(Dataset):
    """Corpus items with a static site mask; `n_skipped` counts the cells below `min_sites`."""

    def __init__(self, items: list[dict], ratio: float, seed: int, min_sites: int = 2):
        self.items, self.masks, self.n_skipped = [], [], 0
        for i, item in enumerate(items):
            if len(item["z"]) < min_sites:
                self.n_skipped += 1
                continue
            self.items.append(item)
            self.masks.append(draw_mask(len(item["z"]), ratio, seed, i))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return dict(self.items[i], atom_mask=self.masks[i])


class PlainDataset(Dataset):
    """Corpus items unmasked (stage 2 and the latent probe)."""

    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def collate_pretrain(samples: list[dict]) -> tuple:
    """(graph batch, extras): extras holds `atom_mask` [N] (when masked), `frac` [N, 3], `lattice` [B, 3, 3]."""
    batch = collate(samples)
    extras = {
        "frac": torch.from_numpy(np.concatenate([s["frac_target"] for s in samples])),
        "lattice": torch.from_numpy(np.stack([s["lattice_target"] for s in samples])),
    }
    if "atom_mask" in samples[0]:
        extras["atom_mask"] = torch.from_numpy(np.concatenate([s["atom_mask"] for s in samples]))
    return batch, extras
