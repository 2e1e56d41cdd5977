"""Band gap from a Fermi-centred DOS on the project grid: the two extraction rules of the paper.

- `soft_gap`: Algorithm 1 (paper section 3.4 and appendix A.4), differentiable, used as the
  parameter-free gap supervision during training.
- `threshold_gap`: the non-differentiable edge scan of appendix A.4, used for the E_g^ext metric.

Both take spectra of shape (..., T) with E_F on the edge between bins T/2-1 and T/2.
"""

from __future__ import annotations

import numpy as np
import torch

EXT_THRESHOLD = 0.02  # states/eV, appendix A.4


def soft_gap(dos: torch.Tensor, de: float, k: float = 10.0) -> torch.Tensor:
    """Algorithm 1: ReLU, split at E_F, cumulative sums outward, mask ReLU(1 - k*cumsum), sum x dE."""
    d = torch.relu(dos)
    half = d.shape[-1] // 2
    left = torch.flip(d[..., :half], dims=(-1,))  # ordered outward from E_F to lower energies
    right = d[..., half:]
    mask_l = torch.relu(1.0 - k * torch.cumsum(left, dim=-1))
    mask_r = torch.relu(1.0 - k * torch.cumsum(right, dim=-1))
    return (mask_l.sum(-1) + mask_r.sum(-1)) * de


def threshold_gap(dos: np.ndarray, de: float, threshold: float = EXT_THRESHOLD) -> np.ndarray:
    """Appendix A.4 scan: from E_F outward, the first bin above `threshold` on each side.

    The band edges sit on the boundary between the gap region and that first bin, so the gap is
    (number of sub-threshold bins on both sides, counted from E_F) x dE. Each side is scanned on its
    own: the gap is 0 only when *both* bins next to E_F (T/2 - 1 and T/2: 127 and 128) are above
    threshold. When only one of them is (E_F on a band edge, e.g. at the valence-band top as DFT
    codes place it in a semiconductor), that side contributes 0 and the gap is the sub-threshold run
    on the other side alone. A side with no bin above threshold counts all its bins.
    """
    d = np.asarray(dos, dtype=float)
    half = d.shape[-1] // 2
    left = d[..., :half][..., ::-1] > threshold
    right = d[..., half:] > threshold
    n_left = np.where(left.any(-1), left.argmax(-1), half)
    n_right = np.where(right.any(-1), right.argmax(-1), half)
    return (n_left + n_right) * de
