"""Reading `params.yaml` and validating the values that have a fixed set of choices."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A parameter has a value the pipeline cannot use; the message says which values are valid."""


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} not found: run the stage from the project root (where params.yaml lives)")
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def choice(value: Any, valid: Iterable[Any], name: str) -> Any:
    """Return `value` if it is one of `valid`, else raise an error that lists the valid values."""
    valid = list(valid)
    if value not in valid:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of: {', '.join(map(str, valid))}")
    return value


def subset(values: Iterable[Any], valid: Iterable[Any], name: str) -> list:
    valid = list(valid)
    values = list(values)
    bad = [v for v in values if v not in valid]
    if bad or not values:
        raise ConfigError(
            f"{name}={values!r} is not valid; it must be a non-empty subset of: {', '.join(map(str, valid))}"
        )
    return values


def known_keys(section: dict, valid: Iterable[str], name: str) -> dict:
    """Reject unknown keys in a params section (a typo should not be ignored silently)."""
    valid = list(valid)
    bad = [k for k in section if k not in valid]
    if bad:
        raise ConfigError(f"unknown key(s) {bad} in {name}; valid keys: {', '.join(valid)}")
    return section
