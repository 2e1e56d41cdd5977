"""Per-dimension statistics of the encoder's latent and the collapse guard of stage 2.

Stage 2 trains the encoder on the flow-matching loss alone, which a constant latent minimises trivially;
the seed's App. C shows it (LDM without the VAE stage: loss 1.7e-4 at epoch 50, a collapsed latent).
Every epoch the per-atom latents of the corpus's validation structures are measured; when the mean
per-dimension standard deviation falls below `ratio` times its value at the start of stage 2, or the
latent is constant, pretraining stops with `LatentCollapse` (last.pt keeps the last healthy epoch).
"""

from __future__ import annotations

import torch

CONSTANT_STD = 1e-6


class LatentCollapse(RuntimeError):
    pass


@torch.no_grad()
def latent_stats(encoder, loader, device) -> dict[str, float]:
    """std per latent dimension over all atoms (mean and min), and the participation-ratio effective rank."""
    was_training = encoder.training
    encoder.eval()
    h = torch.cat([encoder(batch.to(device)).float().cpu() for batch, _ in loader])
    encoder.train(was_training)
    std = h.std(0, unbiased=False)
    eig = torch.linalg.eigvalsh(torch.cov(h.T)).clamp(min=0) if h.shape[0] > 1 else torch.zeros(1)
    rank = float(eig.sum() ** 2 / (eig.pow(2).sum() + 1e-30))
    return {"latent_std_mean": float(std.mean()), "latent_std_min": float(std.min()), "latent_eff_rank": rank}


def check_collapse(stats: dict, start_std: float, ratio: float, where: str) -> None:
    std = stats["latent_std_mean"]
    hint = (
        "the flow-matching loss alone lets the encoder shrink its output (seed App. C). Try more stage-1 epochs "
        "(pretrain.vae.epochs), a lower pretrain.ldm.lr or fewer pretrain.ldm.epochs; pretrain.ldm.collapse_ratio "
        "sets this threshold"
    )
    if std < CONSTANT_STD:
        raise LatentCollapse(f"latent collapse {where}: the encoder's latent is constant (mean std {std:.3g}); {hint}")
    if start_std > 0 and std < ratio * start_std:
        raise LatentCollapse(
            f"latent collapse {where}: mean per-dimension std {std:.4g} is below {ratio} x its value at the start "
            f"of stage 2 ({start_std:.4g}); {hint}"
        )
