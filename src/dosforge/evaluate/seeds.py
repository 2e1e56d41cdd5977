"""Seed-to-seed spread of the primary model's metrics, and the rule that says which differences exceed it.

The `seed@<s>` stages train the primary model's exact configuration with seed s into
`models/seeds/<s>/` (params.yaml top-level `seeds`); the primary model itself is the run with the
global `seed`. `seed_spread` aggregates every metric over those runs: mean, sample standard
deviation (ddof = 1) and n. A difference between two models is called larger than the noise when it
exceeds `NOISE_FACTOR` (2 sqrt 2) x that standard deviation, and only when at least `MIN_RUNS_FOR_NOISE` runs
exist: two runs give a standard deviation, but not one to judge differences by.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dosforge.config import ConfigError

PREDICTIONS = "test_predictions.h5"  # what a seed@<s> stage writes, as train does
MIN_RUNS_FOR_NOISE = 3  # primary + at least two extra seeds
# Two single runs (a variant and the DOSForge row) differ by noise of std sqrt(2) x sigma, so "beyond two standard
# deviations of that difference" is |difference| > 2 sqrt(2) sigma ~ 2.83 sigma (2 sigma would mark ~16% of pure-noise
# cells; this marks ~5%). sigma itself comes from few runs: read the marks as a screen, not a test.
NOISE_FACTOR = 2.0 * math.sqrt(2.0)
NOISE_MARK = "§"  # not the paper's dagger, which Table 2 already uses for the Single row's E_g^ext


def seed_list(params: dict) -> list[int]:
    """params.yaml `seeds` (absent or null = none): distinct integers other than the primary model's `seed`."""
    seeds = params.get("seeds") or []
    if not isinstance(seeds, list) or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise ConfigError(f"seeds={seeds!r} is not valid; give a list of integers, e.g. seeds: [43, 44]")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={seeds} lists a seed twice; each seed trains one model")
    primary = params.get("seed")
    if primary in seeds:
        raise ConfigError(
            f"seeds={seeds} contains {primary}, the primary model's seed (params `seed`), which is already one run "
            "of the spread; list other seeds"
        )
    return list(seeds)


def seed_model_dirs(seeds: list[int], models_root: str | Path) -> dict[int, Path]:
    """`models_root/seeds/<s>` for every seed; a missing one is an error naming it."""
    dirs = {s: Path(models_root) / "seeds" / str(s) for s in seeds}
    check_seed_dirs(dirs)
    return dirs


def check_seed_dirs(dirs: dict[int, Path]) -> None:
    """Fail early, naming every seed whose test predictions are missing and how to produce them."""
    missing = [f"seed {s}: {Path(d) / PREDICTIONS}" for s, d in dirs.items() if not (Path(d) / PREDICTIONS).is_file()]
    if missing:
        raise FileNotFoundError(
            "params `seeds` lists seed models that have not been trained (run `dvc repro`, or "
            "`dvc repro seed@<s>` for one):\n  " + "\n  ".join(missing)
        )


def seed_spread(runs: dict[str, dict]) -> dict:
    """`{"n_runs": R, <key>: {"mean", "std", "n"}}` for every metric key of `runs` (run label -> metric dict).

    `n` counts the runs where the key has a number (null where a model lacks the task); `std` is the
    sample standard deviation (ddof = 1), null below two values; `mean` is null with no value at all.
    """
    keys: list[str] = []
    for metrics in runs.values():
        keys += [k for k in metrics if k not in keys]
    out: dict = {"n_runs": len(runs)}
    for key in keys:
        values = np.array([float(m[key]) for m in runs.values() if _number(m.get(key))])
        out[key] = {
            "mean": float(values.mean()) if len(values) else None,
            "std": float(values.std(ddof=1)) if len(values) >= 2 else None,
            "n": len(values),
        }
    return out


def noise_std(spread: dict | None, key: str) -> float | None:
    """The seed std of `key` when it can judge differences (at least MIN_RUNS_FOR_NOISE runs), else None."""
    if not spread or spread.get("n_runs", 0) < MIN_RUNS_FOR_NOISE:
        return None
    entry = spread.get(key) or {}
    std = entry.get("std")
    return float(std) if entry.get("n", 0) >= MIN_RUNS_FOR_NOISE and _number(std) else None


def exceeds_noise(value, reference, std: float | None) -> bool:
    """True when |value - reference| > NOISE_FACTOR x std (False when any of them is missing)."""
    if std is None or not _number(value) or not _number(reference):
        return False
    return abs(float(value) - float(reference)) > NOISE_FACTOR * std


def _number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)
