"""The learning-rate schedule reproduces appendix B: 4e-5 start, 1e-3 at 25% of training, 1e-7 at the end."""

import pytest
import torch

from dosforge.train.config import resolve_train_config
from dosforge.train.loop import make_optimizer, make_scheduler


def _lrs(cfg, steps_per_epoch):
    model = torch.nn.Linear(2, 1)
    opt = make_optimizer(model, cfg)
    sched = make_scheduler(opt, cfg, steps_per_epoch)
    lrs = []
    for _ in range(cfg.epochs * steps_per_epoch):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs, opt


def test_paper_schedule_points():
    cfg = resolve_train_config({"preset": "paper"})
    lrs, opt = _lrs(cfg, steps_per_epoch=2)
    n = len(lrs)
    assert lrs[0] == pytest.approx(4e-5, rel=1e-9)
    peak = lrs.index(max(lrs))
    assert max(lrs) == pytest.approx(1e-3, rel=1e-9)
    assert peak == round(0.25 * n) - 1  # the warm-up spans the first 25% of steps (75 epochs of 300)
    assert lrs[-1] == pytest.approx(1e-7, rel=1e-6)
    decay = zip(lrs[peak:-1], lrs[peak + 1 :], strict=True)
    assert all(a >= b for a, b in decay)  # monotone cosine decay after the peak
    assert opt.param_groups[0]["weight_decay"] == 1e-2 and isinstance(opt, torch.optim.AdamW)


def test_a_run_shorter_than_the_warm_up_still_trains():
    cfg = resolve_train_config({"preset": "cpu", "epochs": 1})
    with pytest.warns(UserWarning, match="raise train.epochs"):
        lrs, _ = _lrs(cfg, steps_per_epoch=2)
    assert lrs[0] == pytest.approx(cfg.max_lr / 25, rel=1e-9) and lrs[1] > lrs[0]
