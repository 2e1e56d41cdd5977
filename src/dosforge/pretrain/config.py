"""`pretrain:` params resolved against a preset (cpu | paper): every key validated, null takes the preset's value.

The paper preset is the seed paper's App. D.1 (50 epochs per stage, batch 256, AdamW 1e-3, wd 1e-5, OneCycle
pct 0.3, clip 1.0) with the released code's DiT (768 wide, 12 heads, 12 layers). Stage 2's learning rate is
1e-4 in both presets: the released code's value (the paper's text says 1e-3 for both stages), because the
encoder is trained jointly on the flow-matching loss alone and a larger step speeds up latent collapse.
"""

from __future__ import annotations

import copy

from dosforge.config import ConfigError, choice, known_keys, subset

PRESETS = ("cpu", "paper")
SOURCES = ("bundle", "files", "mp")
EXCLUDES = ("heldout", "labelled")
DEVICES = ("auto", "cpu", "cuda")
DIT_PRESETS = {
    "cpu": {"d_model": 128, "heads": 4, "layers": 4, "mlp_ratio": 4},
    "paper": {"d_model": 768, "heads": 12, "layers": 12, "mlp_ratio": 4},
}
STAGE_PRESETS = {
    "cpu": {"vae": {"epochs": 3, "batch_size": 64}, "ldm": {"epochs": 3, "batch_size": 64, "lr": 1.0e-4}},
    "paper": {"vae": {"epochs": 50, "batch_size": 256}, "ldm": {"epochs": 50, "batch_size": 256, "lr": 1.0e-4}},
}
MAX_SITES = {"cpu": 20, "paper": 40}
DEFAULTS = {
    "preset": "cpu",
    "data": {
        "sources": ["bundle"],
        "path": None,
        "max_sites": None,
        "limit": 0,
        "exclude": "heldout",
        "val_fraction": 0.1,
        "mp_limit": 1000,
    },
    "vae": {
        "epochs": None,
        "batch_size": None,
        "lr": 1.0e-3,
        "weight_decay": 1.0e-5,
        "grad_clip": 1.0,
        "mask_ratio": 0.3,
        "min_sites": 2,
        "kl_weight": 1.0e-5,
    },
    "ldm": {
        "epochs": None,
        "batch_size": None,
        "lr": None,
        "weight_decay": 1.0e-5,
        "grad_clip": 1.0,
        "dit": {},
        "min_t": 0.01,
        "t_clip": 0.9,
        "collapse_ratio": 0.1,
    },
    "pct_start": 0.3,
    "device": "auto",
    "num_threads": 2,
}


def resolve_pretrain_config(section: dict | None) -> dict:
    """The full, validated `pretrain:` configuration as a plain dict (what checkpoints and MLflow record)."""
    section = copy.deepcopy(section or {})
    known_keys(section, DEFAULTS, "pretrain")
    preset = choice(section.get("preset", "cpu"), PRESETS, "pretrain.preset")
    cfg = {"preset": preset}
    for key in ("pct_start", "device", "num_threads"):
        cfg[key] = section.get(key, DEFAULTS[key])
    for name in ("data", "vae", "ldm"):
        given = dict(section.get(name) or {})
        known_keys(given, DEFAULTS[name], f"pretrain.{name}")
        merged = {**DEFAULTS[name], **{k: v for k, v in given.items() if v is not None}}
        for k, v in STAGE_PRESETS[preset].get(name, {}).items():
            merged[k] = v if given.get(k) is None else given[k]
        cfg[name] = merged
    dit = dict(cfg["ldm"]["dit"] or {})
    known_keys(dit, DIT_PRESETS["cpu"], "pretrain.ldm.dit")
    cfg["ldm"]["dit"] = {**DIT_PRESETS[preset], **dit}
    if cfg["data"]["max_sites"] is None:
        cfg["data"]["max_sites"] = MAX_SITES[preset]
    _validate(cfg)
    return cfg


def _validate(cfg: dict) -> None:
    data, vae, ldm = cfg["data"], cfg["vae"], cfg["ldm"]
    subset(data["sources"], SOURCES, "pretrain.data.sources")
    choice(data["exclude"], EXCLUDES, "pretrain.data.exclude")
    choice(cfg["device"], DEVICES, "pretrain.device")
    if "files" in data["sources"] and not data["path"]:
        raise ConfigError(
            "pretrain.data.sources includes files: set pretrain.data.path to a folder of CIF/POSCAR files"
        )
    if not 0 < float(data["val_fraction"]) < 0.5:
        raise ConfigError(f"pretrain.data.val_fraction={data['val_fraction']} must lie in (0, 0.5)")
    if not 0 < float(vae["mask_ratio"]) < 1:
        raise ConfigError(f"pretrain.vae.mask_ratio={vae['mask_ratio']} must lie in (0, 1)")
    if not 0 < float(ldm["min_t"]) < 0.5 or not 0 < float(ldm["t_clip"]) < 1:
        raise ConfigError("pretrain.ldm.min_t must lie in (0, 0.5) and pretrain.ldm.t_clip in (0, 1)")
    for stage in ("vae", "ldm"):
        c = cfg[stage]
        if int(c["epochs"]) < 0 or int(c["batch_size"]) < 1 or float(c["lr"]) <= 0:
            raise ConfigError(f"pretrain.{stage}: epochs >= 0, batch_size >= 1 and lr > 0 are required")
    dit = ldm["dit"]
    if dit["d_model"] % dit["heads"]:
        raise ConfigError(f"pretrain.ldm.dit.d_model={dit['d_model']} must be divisible by heads={dit['heads']}")
    if int(vae["min_sites"]) < 2:
        raise ConfigError("pretrain.vae.min_sites must be >= 2 (a 1-site cell has nothing left unmasked)")
