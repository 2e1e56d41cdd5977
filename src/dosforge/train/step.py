"""One optimiser step over a step's micro-batches, this rank's share of them (docs/training.md "Several devices").

A step of A micro-batches run by W processes: rank r runs micro-batches r, r + W, ... (`plan.rank_share`),
accumulating gradients of `loss * W / A`; DistributedDataParallel averages over the W ranks in the backward of
each rank's last micro-batch (`no_sync` before it), so every rank steps with the mean of the A micro-batch
gradients, exactly what one process accumulating the same micro-batches computes. A rank without a micro-batch
of its own (the last, partial step of an epoch) runs a zero-weight forward/backward to join the all-reduce.
With one process and no micro-batches (the default) this is the loop as it always was: forward, loss, backward.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from dosforge.train.plan import rank_share


@dataclass
class StepRunner:
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    dataset: object
    normalizer: object
    device: torch.device
    autocast: object
    loss_config: object
    replay: object  # RunningStatsReplay or None
    grad_clip: float
    rank: int = 0
    world: int = 1
    pad_to_share: bool = False  # SyncBatchNorm: every rank must run the same number of forwards

    def run(self, micro_batches: list[list[int]], step: int, seen: list) -> dict | None:
        """Run the step; append (step, micro-batch, size, {loss: value}) of this rank's micro-batches to `seen`.
        Returns the losses of this rank's last micro-batch (None when it had none)."""
        from dosforge.model import collate
        from dosforge.model.losses import compute_losses

        mine: list[int | None] = rank_share(micro_batches, self.rank, self.world)
        share = -(-len(micro_batches) // self.world)
        if not mine or self.pad_to_share:
            mine = mine + [None] * ((share if self.pad_to_share else 1) - len(mine))
        scale = self.world / len(micro_batches)
        self.optimizer.zero_grad(set_to_none=True)
        last = None
        for k, j in enumerate(mine):
            ids = micro_batches[j if j is not None else 0]
            batch = collate([self.dataset[i] for i in ids], normalizer=self.normalizer).to(self.device)
            syncing = k == len(mine) - 1 or not hasattr(self.net, "no_sync")
            with contextlib.ExitStack() as stack:
                if not syncing:
                    stack.enter_context(self.net.no_sync())
                if self.replay is not None:
                    stack.enter_context(self.replay.recording(j))
                with self.autocast:
                    out = self.net(batch)
                    losses = compute_losses(out, batch, self.loss_config, self.normalizer)
                total = losses["total"]
                if j is None:
                    total = total * 0.0
                elif scale != 1.0:  # the default (one process, one micro-batch) keeps the loss untouched
                    total = total * scale
                total.backward()
            if j is not None:
                last = losses
                seen.append((step, j, int(batch.num_graphs), {k: float(v.detach()) for k, v in losses.items()}))
        if self.replay is not None:
            self.replay.fold_step(len(micro_batches), share, self.world, self.device)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return last
