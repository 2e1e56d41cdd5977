"""ModelConfig: params validation (errors list the valid values), presets, round trip for checkpoints."""

import pytest

from dosforge.config import ConfigError
from dosforge.model import DOSForge, ModelConfig


def test_defaults_from_params_and_round_trip():
    params = {
        "model": {"tasks": ["dos", "gap"], "coupling": "parallel", "gap_head": "extract"},
        "grid": {"emin": -10, "emax": 10, "bins": 256},
        "loss": {"gap_k": 20},
    }
    cfg = ModelConfig.from_params(params)
    assert cfg.tasks == ("dos", "gap") and cfg.de == pytest.approx(20 / 256) and cfg.gap_k == 20
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"coupling": "crossed"}, "parallel, epdos_to_dos, dos_to_epdos, cross"),
        ({"tasks": ["dos", "bandgap"]}, "dos, epdos, fermi, gap"),
        ({"tasks": []}, "non-empty subset"),
        ({"gap_head": "soft"}, "extract, mlp, pool"),
        ({"size": "huge"}, "small, paper"),
        ({"encoder": {"width": 3}}, "valid keys: d, layers"),
        ({"decoder": {"l1": 0}}, "positive integers"),
        ({"tasks": ["gap"], "gap_head": "extract"}, "must include dos"),
        ({"colour": "red"}, "valid keys: tasks"),
    ],
)
def test_bad_values_are_errors_listing_valid_ones(model, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig.from_params({"model": model})


def test_paper_size_is_one_param():
    cfg = ModelConfig.from_params({"model": {"size": "paper"}})
    assert cfg.d == 256 and cfg.encoder["layers"] == 4 and cfg.encoder["heads"] == 1
    assert cfg.decoder == {"heads": 8, "head_dim": 32, "ffn_mult": 4, "n_patches": 32, "l1": 2, "l2": 2}
    assert ModelConfig(size="paper") == cfg  # the preset applies when built directly, too
    n = sum(p.numel() for p in DOSForge(cfg).parameters())
    small = sum(p.numel() for p in DOSForge(ModelConfig()).parameters())
    assert n > 10 * small
