"""`ModelConfig`: the validated `model:` section of params.yaml (plus the grid size and the gap sharpness).

Sizes come from a preset (`size: small | paper`) that `encoder:` / `decoder:` dicts may override key by key.
`paper` is the DOSForge paper's model (appendix A.1: d = 256, 8 heads of 32, N_p = 32, L1 = L2 = 2) on
the published iComFormer encoder (4 node layers, 1 head, edge update after the first layer, 256 RBF bins).
`small` keeps every part and shrinks widths so the embedded default trains on 2 CPU cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from dosforge.config import ConfigError, choice, known_keys, subset
from dosforge.grid import EnergyGrid
from dosforge.model.features import ATOM_FEATURES

TASKS = ("dos", "epdos", "fermi", "gap")
COUPLINGS = ("parallel", "epdos_to_dos", "dos_to_epdos", "cross")
GAP_HEADS = ("extract", "mlp", "pool")
SIZES = ("small", "paper")

ENCODER_PRESETS = {
    # Published iComFormer (Yan et al. 2024): node/edge/triplet features 256, 4 conv layers, 1 head.
    "paper": {"d": 256, "layers": 4, "heads": 1, "rbf_bins": 256, "angle_bins": 256},
    "small": {"d": 64, "layers": 4, "heads": 1, "rbf_bins": 64, "angle_bins": 64},
}
DECODER_PRESETS = {
    # Appendix A.1: 8 heads of d_h = 32, FFN x4, N_p = 32 patch tokens, L1 = L2 = 2 blocks.
    "paper": {"heads": 8, "head_dim": 32, "ffn_mult": 4, "n_patches": 32, "l1": 2, "l2": 2},
    "small": {"heads": 4, "head_dim": 16, "ffn_mult": 4, "n_patches": 32, "l1": 2, "l2": 2},
}
# `init` (scratch | pretrained) is how training starts, not the architecture: read by dosforge.train.run
MODEL_KEYS = ("tasks", "coupling", "gap_head", "size", "atom_features", "encoder", "decoder", "init")


@dataclass(frozen=True)
class ModelConfig:
    tasks: tuple[str, ...] = TASKS
    coupling: str = "cross"
    gap_head: str = "extract"
    size: str = "small"
    atom_features: str = "cgcnn"  # the published iComFormer input (CGCNN's 92-d descriptors) | pymatgen
    encoder: dict = field(default_factory=dict)  # overrides of the size preset; resolved in __post_init__
    decoder: dict = field(default_factory=dict)
    bins: int = 256  # T: grid.bins
    de: float = 20.0 / 256  # grid bin width (eV), for Algorithm 1
    gap_k: float = 10.0  # Algorithm 1 sharpness (loss.gap_k)

    def __post_init__(self):
        object.__setattr__(self, "tasks", tuple(subset(self.tasks, TASKS, "model.tasks")))
        choice(self.coupling, COUPLINGS, "model.coupling")
        choice(self.gap_head, GAP_HEADS, "model.gap_head")
        choice(self.size, SIZES, "model.size")
        choice(self.atom_features, ATOM_FEATURES, "model.atom_features")
        enc = {
            **ENCODER_PRESETS[self.size],
            **known_keys(dict(self.encoder), ENCODER_PRESETS["paper"], "model.encoder"),
        }
        dec = {
            **DECODER_PRESETS[self.size],
            **known_keys(dict(self.decoder), DECODER_PRESETS["paper"], "model.decoder"),
        }
        for name, section in (("model.encoder", enc), ("model.decoder", dec)):
            bad = {k: v for k, v in section.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1}
            if bad:
                raise ConfigError(f"{name}: sizes must be positive integers, got {bad}")
        object.__setattr__(self, "encoder", enc)
        object.__setattr__(self, "decoder", dec)
        if enc["d"] % enc["heads"]:
            raise ConfigError(f"model.encoder.d={enc['d']} must be divisible by model.encoder.heads={enc['heads']}")
        if self.bins % dec["n_patches"]:
            raise ConfigError(f"grid.bins={self.bins} must be divisible by model.decoder.n_patches={dec['n_patches']}")
        if "gap" in self.tasks and self.gap_head == "extract" and "dos" not in self.tasks:
            raise ConfigError(
                "model.gap_head=extract reads the gap off the predicted DOS, so model.tasks must include dos; "
                "use gap_head: pool (or mlp) for a model without the DOS task"
            )

    # --- derived layout -------------------------------------------------------------------------------
    @property
    def d(self) -> int:
        return self.encoder["d"]

    @property
    def spectral_coupling(self) -> str | None:
        """The coupling that is actually built: None unless both DOS and EPDOS are predicted."""
        return self.coupling if {"dos", "epdos"} <= set(self.tasks) else None

    # --- (de)serialisation ------------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: dict) -> ModelConfig:
        """Build from the *full* params dict: reads `model:`, `grid.bins/emin/emax` and `loss.gap_k`."""
        grid = EnergyGrid.from_params(params.get("grid") or {})
        gap_k = float((params.get("loss") or {}).get("gap_k", 10.0))
        return cls.from_section(params.get("model") or {}, bins=grid.bins, de=grid.de, gap_k=gap_k)

    @classmethod
    def from_section(cls, model: dict, *, bins: int, de: float, gap_k: float = 10.0) -> ModelConfig:
        """Build from a `model:` section and a spectrum grid given directly (phonon data: dosforge.train.phonon)."""
        model = dict(model)
        known_keys(model, MODEL_KEYS, "model")
        return cls(
            tasks=tuple(model.get("tasks", TASKS)),
            coupling=model.get("coupling", "cross"),
            gap_head=model.get("gap_head", "extract"),
            size=model.get("size", "small"),
            atom_features=model.get("atom_features", "cgcnn"),
            encoder=model.get("encoder") or {},
            decoder=model.get("decoder") or {},
            bins=bins,
            de=de,
            gap_k=gap_k,
        )

    def to_dict(self) -> dict:
        """Plain dict (JSON/YAML friendly) that `from_dict` turns back into the same config (for checkpoints)."""
        out = asdict(self)
        out["tasks"] = list(self.tasks)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        d["tasks"] = tuple(d.get("tasks", TASKS))
        return cls(**d)
