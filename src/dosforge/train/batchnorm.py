"""BatchNorm running statistics that do not depend on how many processes ran the micro-batches.

In training mode BatchNorm normalises with the statistics of its own micro-batch and folds them into
`running_mean`/`running_var` (used in eval mode: validation, test, inference). One process folds the
micro-batches of a step in order; W processes would each fold only their own, so the buffers (and with
them validation and model selection) would depend on W. With micro-batches on, the native update is
switched off during training forwards; each micro-batch's mean and unbiased variance are recorded, gathered
from all ranks after the step and folded by every rank in micro-batch order with the same code, so the
buffers are identical for any W. The default path (no micro-batches) keeps torch's native update.
"""

from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist
from torch import nn


def batchnorm_modules(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


class RunningStatsReplay:
    """Record per-micro-batch BatchNorm statistics on this rank, then fold all ranks' in micro-batch order."""

    def __init__(self, model: nn.Module):
        self.modules = batchnorm_modules(model)
        self.width = sum(2 * m.num_features for m in self.modules)
        self._rows: dict[int, list[torch.Tensor]] = {}
        self._current: list[torch.Tensor] | None = None

    def _hook(self, module, inputs, output) -> None:
        if self._current is not None:
            x = inputs[0].detach().float()
            self._current += [x.mean(0), x.var(0, unbiased=True)]

    @contextlib.contextmanager
    def recording(self, micro_index: int | None):
        """Training forwards inside this context leave the buffers alone; `micro_index` None records nothing
        (a rank without a micro-batch of its own runs a zero-weight forward to join the gradient all-reduce)."""
        handles = [m.register_forward_hook(self._hook) for m in self.modules]
        for m in self.modules:
            m.track_running_stats = False  # training forward: batch statistics, no running-stat update
        self._current = [] if micro_index is not None else None
        try:
            yield
            if micro_index is not None:
                self._rows[micro_index] = self._current
        finally:
            self._current = None
            for m in self.modules:
                m.track_running_stats = True
            for h in handles:
                h.remove()

    def fold_step(self, n_micro: int, share: int, world: int, device: torch.device) -> None:
        """Gather the step's recorded rows from all ranks (at most `share` per rank) and fold them in order."""
        if not self.modules:
            self._rows.clear()
            return
        local = torch.full((share, self.width + 1), -1.0, dtype=torch.float32, device=device)
        for slot, (j, stats) in enumerate(sorted(self._rows.items())):
            local[slot, 0] = float(j)
            local[slot, 1:] = torch.cat(stats).to(device)
        self._rows.clear()
        if world > 1:
            parts = [torch.empty_like(local) for _ in range(world)]
            dist.all_gather(parts, local)
            rows = torch.cat(parts)
        else:
            rows = local
        by_index = {int(r[0]): r[1:] for r in rows if r[0] >= 0}
        if sorted(by_index) != list(range(n_micro)):
            raise RuntimeError(
                f"BatchNorm statistics of micro-batches {sorted(by_index)} gathered, expected 0..{n_micro - 1}"
            )
        with torch.no_grad():
            for j in range(n_micro):
                self._fold(by_index[j])

    def _fold(self, row: torch.Tensor) -> None:
        # torch's update: running = (1 - f) * running + f * batch, f = momentum (or 1/n for a cumulative average)
        offset = 0
        for m in self.modules:
            c = m.num_features
            mean, var = row[offset : offset + c], row[offset + c : offset + 2 * c]
            offset += 2 * c
            m.num_batches_tracked.add_(1)
            f = 1.0 / float(m.num_batches_tracked) if m.momentum is None else m.momentum
            m.running_mean.mul_(1.0 - f).add_(mean.to(m.running_mean.dtype), alpha=f)
            m.running_var.mul_(1.0 - f).add_(var.to(m.running_var.dtype), alpha=f)
