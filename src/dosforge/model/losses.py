"""Training losses (paper appendix B), all in normalised space.

- Spectral (DOS, EPDOS): L = MAE + lambda_PS * PS, with PS the patch-wise structural loss of Kudrat et al. (2025).
- Scalars (E_F, E_g): MAE.
- Mid losses (cross-conditioning's intermediate predictions) weigh lambda_mid and merge into their task:
  L~_D = L_D + lambda_mid L_D^mid, L~_EP likewise; total = sum_t w_t L~_t with w = (1, 1, 1, 0.05).
Clipping: targets arrive clipped at the training 99.9th percentile (`Normalizer.norm_*` in `collate`);
`target_clip` optionally bounds the normalised targets as well.

PS loss, our reading of Kudrat et al. (2025) and their reference code:
1. Fourier-based adaptive patching: the dominant non-DC frequency f of the batch's true spectra (mean
   |rFFT| amplitude) gives a period T/f; patch length P = min(period // 2, ps_max_patch) (we also bound it
   below by 2), stride P // 2; predictions and truths are cut into the same overlapping patches.
2. Per patch: correlation loss 1 - Pearson(pred, true); variance loss KL(softmax(true) || softmax(pred))
   over the patch's bins; mean loss |mean(pred) - mean(true)|; each averaged over patches and spectra.
3. Gradient-based dynamic weighting: alpha, beta, gamma = |g_avg| / |g_corr|, |g_avg| / |g_var|,
   |g_avg| / |g_mean| (g_avg the mean of the three gradients), gamma further scaled by the mean global
   similarity (1 + corr)/2 * 2 s_p s_t / (s_p^2 + s_t^2); all detached.
   Departures: the reference takes the gradients with respect to the forecaster's last layer weights; we
   take them with respect to the predicted spectrum, so the loss needs no handle on the model and works
   the same in training and evaluation. Each weight is capped at 10 (uncapped, a flat prediction's
   vanishing correlation gradient gives a weight of ~1e3 and a loss value dominated by it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from dosforge.config import ConfigError, known_keys

LOSS_KEYS = ("lambda_ps", "lambda_mid", "lambda_wd", "weights", "gap_k", "ps_max_patch", "target_clip")
TASK_WEIGHTS = {"dos": 1.0, "epdos": 1.0, "fermi": 1.0, "gap": 0.05}
EPS = 1e-5  # as in the PS reference
MAX_PS_WEIGHT = 10.0


@dataclass(frozen=True)
class LossConfig:
    lambda_ps: float = 0.2
    lambda_mid: float = 0.5
    lambda_wd: float = 0.0  # Wasserstein term on the denormalised spectra (departure, docs/model.md)
    weights: dict = field(default_factory=lambda: dict(TASK_WEIGHTS))
    gap_k: float = 10.0  # read by ModelConfig (Algorithm 1 lives in the model); kept here as params has it
    ps_max_patch: int = 24  # the reference run script's --patch_len_threshold default (Kudrat et al. 2025)
    target_clip: float | None = None

    @classmethod
    def from_params(cls, section: dict | None) -> LossConfig:
        section = dict(section or {})
        known_keys(section, LOSS_KEYS, "loss")
        weights = dict(TASK_WEIGHTS)
        weights.update(known_keys(dict(section.pop("weights", None) or {}), TASK_WEIGHTS, "loss.weights"))
        cfg = cls(weights=weights, **section)
        bad = [k for k in ("lambda_ps", "lambda_mid", "lambda_wd", "gap_k", "ps_max_patch") if getattr(cfg, k) < 0]
        bad += [f"weights.{t}" for t, w in cfg.weights.items() if w < 0]
        if bad:
            raise ConfigError(f"loss: {', '.join(bad)} must be non-negative")
        return cfg


def _patches(x: torch.Tensor, length: int, stride: int) -> torch.Tensor:
    return x.unfold(-1, length, stride).contiguous()  # (S, n_patches, length)


def _var(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Biased variance over the last axis (torch.var is several times slower on these small patches)."""
    return ((x - mean) ** 2).mean(-1, keepdim=True)


def ps_patch_length(true: torch.Tensor, max_patch: int) -> int:
    amp = torch.fft.rfft(true.detach().float(), dim=-1).abs().mean(0)
    amp[0] = 0.0
    freq = max(int(torch.argmax(amp)), 1)
    return int(max(2, min(true.shape[-1] // freq // 2, max_patch, true.shape[-1])))


def _ps_components(pred: torch.Tensor, true: torch.Tensor, length: int) -> tuple[torch.Tensor, ...]:
    stride = max(length // 2, 1)
    p, t = _patches(pred, length, stride), _patches(true, length, stride)
    pm, tm = p.mean(-1, keepdim=True), t.mean(-1, keepdim=True)
    ps, ts = (_var(p, pm) + 1e-12).sqrt(), _var(t, tm).sqrt()  # +1e-12: finite gradient for a flat patch
    cov = ((p - pm) * (t - tm)).mean(-1, keepdim=True)
    corr_loss = (1.0 - (cov + EPS) / (ps * ts + EPS)).mean()
    var_loss = F.kl_div(F.log_softmax(p, -1), F.softmax(t, -1), reduction="none").sum(-1).mean()
    mean_loss = (pm - tm).abs().mean()
    return corr_loss, var_loss, mean_loss


def _ps_weights(pred: torch.Tensor, true: torch.Tensor, length: int) -> tuple[float, float, float]:
    with torch.enable_grad():
        p = pred.detach().float().requires_grad_(True)
        comps = _ps_components(p, true.float(), length)
        grads = [torch.autograd.grad(c, p, retain_graph=True)[0] for c in comps]
    avg = (grads[0] + grads[1] + grads[2]) / 3.0
    # Capped at MAX_PS_WEIGHT (departure): a component with a vanishing gradient (e.g. the correlation term of a
    # flat prediction) would otherwise get an unbounded weight and blow up the loss *value* used for selection.
    weights = [min(float(avg.norm() / g.norm()), MAX_PS_WEIGHT) if float(g.norm()) > 0 else 0.0 for g in grads]
    # global similarity of the whole spectra scales the mean term (reference `gradient_based_dynamic_weighting`)
    p, t = pred.detach().float(), true.float()
    pm, tm = p.mean(-1, keepdim=True), t.mean(-1, keepdim=True)
    pv, tv = _var(p, pm), _var(t, tm)
    cov = ((p - pm) * (t - tm)).mean(-1, keepdim=True)
    linear_sim = ((cov + EPS) / (pv.sqrt() * tv.sqrt() + EPS) + 1.0) * 0.5
    var_sim = (2 * pv.sqrt() * tv.sqrt() + EPS) / (pv + tv + EPS)
    weights[2] *= float((linear_sim * var_sim).mean())
    return weights[0], weights[1], weights[2]


def ps_loss(pred: torch.Tensor, true: torch.Tensor, max_patch: int = 24) -> torch.Tensor:
    """Patch-wise structural loss of spectra (S, T) against (S, T) (see the module docstring)."""
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    length = ps_patch_length(true, max_patch)
    alpha, beta, gamma = _ps_weights(pred, true, length)
    corr, var, mean = _ps_components(pred, true, length)
    return alpha * corr + beta * var + gamma * mean


def wd_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean 1-D Wasserstein-1 distance of (S, T) spectra in physical units, as a fraction of the window.

    The metric of `dosforge.metrics.wasserstein_bins` / T, made differentiable: negative values count as 0
    (MAE still pulls them up), each spectrum is scaled to unit sum, and the CDFs are compared bin by bin.
    """
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    p, t = pred.clamp(min=0.0) + 1e-8, true.clamp(min=0.0) + 1e-8
    p_cdf = torch.cumsum(p / p.sum(-1, keepdim=True), -1)
    t_cdf = torch.cumsum(t / t.sum(-1, keepdim=True), -1)
    return (p_cdf - t_cdf).abs().mean()


def spectral_loss(
    pred: torch.Tensor, true: torch.Tensor, cfg: LossConfig, denorm: Callable | None = None
) -> torch.Tensor:
    loss = (pred - true).abs().mean()
    if cfg.lambda_ps:
        loss = loss + cfg.lambda_ps * ps_loss(pred, true, cfg.ps_max_patch)
    if cfg.lambda_wd:
        if denorm is None:
            raise ValueError("loss.lambda_wd needs the normaliser: pass it to compute_losses")
        loss = loss + cfg.lambda_wd * wd_loss(denorm(pred), denorm(true))
    return loss


def _denormaliser(task: str, batch, normalizer) -> Callable | None:
    if normalizer is None:
        return None
    if task == "dos":
        return normalizer.denorm_dos
    return lambda x: normalizer.denorm_epdos(x, batch.group_z)


def compute_losses(out: dict, batch, loss_cfg: LossConfig | dict | None = None, normalizer=None) -> dict:
    """{"total", each task's raw loss ("dos", "epdos", "fermi", "gap"), "dos_mae"/"epdos_mae" (the spectral losses'
    MAE terms alone), and "dos_mid"/"epdos_mid" when present}.

    Raw task losses are unweighted, exclude the mid term (the trainer selects models on them) and are detached;
    only the total, sum_t w_t (L_t + lambda_mid L_t^mid), carries gradients. `normalizer` is accepted for the
    architecture contract and denormalises the spectra for the `lambda_wd` term; targets in `batch` are already
    normalised by `collate`.
    """
    cfg = loss_cfg if isinstance(loss_cfg, LossConfig) else LossConfig.from_params(loss_cfg)
    raw: dict[str, torch.Tensor] = {}
    total = None
    for task in ("dos", "epdos", "fermi", "gap"):
        if task not in out:
            continue
        target = getattr(batch, task, None)
        if target is None:
            raise ValueError(f"the batch has no '{task}' target: collate samples with labels to compute losses")
        target = target.float()  # losses in float32 even when the model ran under bf16 autocast
        if cfg.target_clip is not None:
            target = target.clamp(-cfg.target_clip, cfg.target_clip)
        if task in ("dos", "epdos"):
            denorm = _denormaliser(task, batch, normalizer) if cfg.lambda_wd else None
            raw[task] = spectral_loss(out[task].float(), target, cfg, denorm)
            # the data term alone: model selection reads it (the PS term's gradient-based weights change
            # from batch to batch, so its value is no steady yardstick across epochs; docs/training.md)
            raw[f"{task}_mae"] = (out[task].float() - target).abs().mean()
            merged = raw[task]
            if f"{task}_mid" in out:
                raw[f"{task}_mid"] = spectral_loss(out[f"{task}_mid"].float(), target, cfg, denorm)
                merged = merged + cfg.lambda_mid * raw[f"{task}_mid"]
        else:
            raw[task] = (out[task].float() - target).abs().mean()
            merged = raw[task]
        term = cfg.weights[task] * merged
        total = term if total is None else total + term
    if total is None:
        raise ValueError(f"the model output has no task predictions (keys: {sorted(out)})")
    return {"total": total, **{k: v.detach() for k, v in raw.items()}}
