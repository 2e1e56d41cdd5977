"""Training presets: the paper's numbers, overrides from params, errors that list valid values."""

import pytest

from dosforge.config import ConfigError
from dosforge.train.config import PRESETS, resolve_train_config


def test_paper_preset_is_appendix_b():
    cfg = resolve_train_config({"preset": "paper"})
    assert (cfg.epochs, cfg.batch_size, cfg.weight_decay, cfg.grad_clip, cfg.bf16) == (300, 64, 1e-2, 1.0, True)
    assert cfg.initial_lr == pytest.approx(4e-5) and cfg.max_lr == 1e-3 and cfg.final_lr == pytest.approx(1e-7)


def test_cpu_preset_shares_the_optimiser_and_schedule_shape():
    paper, cpu = resolve_train_config({"preset": "paper"}), resolve_train_config({"preset": "cpu"})
    same = ("div_factor", "final_div_factor", "pct_start", "anneal_strategy", "weight_decay", "grad_clip")
    assert all(getattr(paper, k) == getattr(cpu, k) for k in same)
    assert cpu.epochs < paper.epochs
    assert cpu.max_lr == 3e-3 and paper.max_lr == 1e-3  # the cpu preset's short schedule peaks higher


def test_null_keeps_preset_value_and_override_wins():
    assert resolve_train_config({"preset": "paper", "epochs": None}).epochs == 300
    assert resolve_train_config({"preset": "paper", "epochs": 7}).epochs == 7


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ConfigError) as err:
        resolve_train_config({"preset": "gpu-fast"})
    for name in PRESETS:
        assert name in str(err.value)


def test_unknown_key_and_device_are_errors():
    with pytest.raises(ConfigError, match="valid keys"):
        resolve_train_config({"preset": "cpu", "epoch": 3})
    with pytest.raises(ConfigError, match="auto, cpu, cuda"):
        resolve_train_config({"device": "tpu"})
