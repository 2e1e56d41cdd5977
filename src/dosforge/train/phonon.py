"""Training on phonon DOS (`data.spectrum: phonon`, issue 11): what differs from the electron recipe.

The processed data says which spectrum it holds (manifest `spectrum`, written by preprocess). On phonon data:
- the spectrum grid is the manifest's frequency grid (params `phonon` at preprocess: 51 points over
  0-1000 cm^-1, DOSTransformer supplement A.1), not the electron `grid` section;
- the primary model's tasks are `phonon_model.tasks` (dos and/or epdos): a phonon spectrum has no Fermi
  level and no gap, so asking for those heads is an error that says so;
- an ablation variant with a fermi or gap task is not trained: its directory holds `skipped.json` with the
  reason, which the evaluate stage lists (the spectral variants are trained as on electrons);
- the decoder's patch count is `phonon_model.n_patches`, which must divide the grid's points (51 = 17 x 3);
- the number of epochs is `phonon_model.epochs` (null = the train preset's): a phonon set of a few hundred
  materials gives the electron preset's 14 epochs only a few dozen optimiser steps (docs/phonons.md).
Everything else (encoder, couplings, losses, normalisation by the split stage, selection) is the electron recipe.
"""

from __future__ import annotations

from pathlib import Path

from dosforge.config import ConfigError, known_keys, subset
from dosforge.io import write_json

PHONON_TASKS = ("dos", "epdos")
ELECTRON_ONLY = ("fermi", "gap")
KEYS = ("tasks", "n_patches", "epochs")
DEFAULTS = {"tasks": ["dos", "epdos"], "n_patches": 17, "epochs": 200}
SKIPPED = "skipped.json"


class VariantSkipped(Exception):
    """An ablation variant that needs electron-only targets, on phonon data: nothing to train."""


def spectrum(manifest: dict) -> str:
    """The spectrum kind of processed data: "phonon" or "electron" (manifests before phonons have no key)."""
    return str(manifest.get("spectrum", "electron"))


def phonon_section(params: dict) -> dict:
    """`phonon_model` with its defaults; an explicit `epochs: null` means the train preset's epochs."""
    section = known_keys(dict(params.get("phonon_model") or {}), KEYS, "phonon_model")
    out = dict(DEFAULTS)
    out.update({k: v for k, v in section.items() if v is not None or k == "epochs"})
    return out


def model_section(params: dict, section: dict, variant: str | None) -> dict:
    """The `model:` section for phonon data: tasks (primary: phonon_model.tasks) and the decoder's patch count.

    Raises VariantSkipped for a variant with electron-only tasks, ConfigError when the primary asks for them."""
    cfg = phonon_section(params)
    section = dict(section)
    if variant is None:
        wanted = list(cfg["tasks"] or [])
        asked = [t for t in wanted if t in ELECTRON_ONLY]
        if asked:
            raise ConfigError(
                f"phonon_model.tasks asks for {asked}: a phonon DOS has no Fermi level or band gap; "
                f"use a non-empty subset of {list(PHONON_TASKS)}"
            )
        section["tasks"] = subset(wanted, PHONON_TASKS, "phonon_model.tasks")
    else:
        asked = [t for t in section.get("tasks", ()) if t in ELECTRON_ONLY]
        if asked:
            raise VariantSkipped(f"variant {variant!r} trains {asked}, which phonon data does not have")
    section["decoder"] = {**dict(section.get("decoder") or {}), "n_patches": int(cfg["n_patches"])}
    return section


def train_section(params: dict) -> dict:
    """The `train:` section with `phonon_model.epochs` in place of the preset's epochs (when set)."""
    section = dict(params.get("train") or {})
    epochs = phonon_section(params)["epochs"]
    if epochs is not None:
        section["epochs"] = int(epochs)
    return section


def grid_of(manifest: dict) -> tuple[int, float, dict]:
    """(points, step in cm^-1, the grid dict) of the processed phonon data."""
    grid = dict(manifest["grid"])
    points = int(grid["points"])
    step = (float(grid["fmax"]) - float(grid["fmin"])) / (points - 1)
    return points, step, grid


def write_skipped(out_dir: str | Path, name: str, reason: str) -> dict:
    """The model directory of a variant not trained on this data: skipped.json only (the DVC output exists)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.iterdir():  # a previous electron run's files must not pass for phonon results
        if stale.is_file():
            stale.unlink()
    summary = {"name": name, "skipped": True, "reason": reason, "spectrum": "phonon"}
    write_json(out_dir / SKIPPED, summary)
    return summary
