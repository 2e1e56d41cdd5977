"""Training presets and the resolved training configuration (`params.yaml` section `train:`).

`paper` is appendix B of the DOSForge paper: 300 epochs, batch 64, AdamW (weight decay 1e-2),
OneCycleLR 4e-5 -> 1e-3 over the first 25% then cosine to 1e-7, gradient-norm clip 1.0, bf16
mixed precision (applied on CUDA only; CPU trains in float32). `cpu` keeps every one of those
choices except the number of epochs and the batch size, so the embedded default trains on a
2-core machine through the same code path.

The OneCycle numbers map onto `torch.optim.lr_scheduler.OneCycleLR` as: max_lr = 1e-3,
div_factor = 25 (start 1e-3 / 25 = 4e-5), final_div_factor = 400 (end 4e-5 / 400 = 1e-7),
pct_start = 0.25, anneal_strategy = "cos". `tests/train/test_schedule.py` checks those points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from dosforge.config import ConfigError, choice, known_keys

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    preset: str
    epochs: int
    batch_size: int
    max_lr: float = 1e-3
    div_factor: float = 25.0
    final_div_factor: float = 400.0
    pct_start: float = 0.25
    anneal_strategy: str = "cos"
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    bf16: bool = True  # bf16 autocast, used on CUDA only (appendix B); CPU always trains in float32
    eval_batch_size: int = 128
    device: str = "auto"
    num_threads: int = 1  # CPU threads, fixed so that the same command gives the same numbers (docs/training.md)
    deterministic: bool = True
    # Global batch per optimiser step is `batch_size`; `micro_batch_size` is the batch per forward pass (None: the
    # whole batch). With W processes each runs its share of a step's micro-batches (docs/training.md "Several
    # devices"); results depend on (batch_size, micro_batch_size), not on W.
    micro_batch_size: int | None = None
    sync_bn: bool = False  # torch.nn.SyncBatchNorm across processes: CUDA only, statistics then depend on W

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError(f"train.epochs/batch_size/eval_batch_size must be >= 1, got {self}")
        if self.micro_batch_size is not None and not 1 <= self.micro_batch_size <= self.batch_size:
            raise ConfigError(
                f"train.micro_batch_size must lie in [1, batch_size={self.batch_size}] or be null (= the batch), "
                f"got {self.micro_batch_size}"
            )
        if not 0.0 < self.pct_start < 1.0:
            raise ConfigError(f"train.pct_start must lie in (0, 1), got {self.pct_start}")
        choice(self.anneal_strategy, ("cos", "linear"), "train.anneal_strategy")
        choice(self.device, DEVICES, "train.device")

    @property
    def initial_lr(self) -> float:
        return self.max_lr / self.div_factor

    @property
    def final_lr(self) -> float:
        return self.initial_lr / self.final_div_factor

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict] = {
    # Appendix B (paper section 4 / "Optimization"): every number below is the paper's.
    "paper": {"epochs": 300, "batch_size": 64, "bf16": True},
    # Same optimiser and schedule shape; fewer epochs, smaller batches (more steps per epoch on the
    # 1,672-material training split) and a 3x higher peak learning rate, which learns more in a short
    # schedule (measured: docs/training.md "How the cpu preset was chosen").
    "cpu": {"epochs": 14, "batch_size": 16, "max_lr": 3e-3, "bf16": True},
}

_KEYS = ["preset"] + [f.name for f in fields(TrainConfig) if f.name != "preset"]


def resolve_train_config(section: dict | None) -> TrainConfig:
    """The `train:` params section -> TrainConfig: the preset's values, then any non-null override.

    `dvc exp run -S train.epochs=5` overrides one value; `null` (or absence) keeps the preset's.
    """
    section = dict(section or {})
    known_keys(section, _KEYS, "train")
    preset = choice(section.pop("preset", "cpu"), PRESETS, "train.preset")
    values = dict(PRESETS[preset])
    values.update({k: v for k, v in section.items() if v is not None})
    types = {f.name: f.type for f in fields(TrainConfig)}
    casts = {"int": int, "float": float, "bool": bool, "str": str, "int | None": int}
    try:
        values = {k: casts[types[k]](v) for k, v in values.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train section has a value of the wrong type: {exc}") from exc
    return TrainConfig(preset=preset, **values)
