"""Synthetic test-split predictions and tiny model directories (what training writes) for the evaluate tests."""

import numpy as np
import pytest

from dosforge.grid import EnergyGrid
from dosforge.io import write_json
from dosforge.predictions import Predictions

TASKS = ("dos", "epdos", "fermi", "gap")
FORMULAS = ["Si", "NaCl", "Fe", "GaAs", "Cu", "ZnO", "Al", "MgO"]
Z = {"Si": [14], "NaCl": [11, 17], "Fe": [26], "GaAs": [31, 33], "Cu": [29], "ZnO": [8, 30], "Al": [13], "MgO": [8, 12]}


@pytest.fixture(scope="session")
def grid():
    return EnergyGrid()


def _spectrum(rng, grid, gap_bins_below, gap_bins_above):
    i = np.arange(grid.bins)
    d = sum(
        rng.uniform(0.5, 3) * np.exp(-0.5 * ((i - rng.uniform(0, grid.bins)) / rng.uniform(3, 12)) ** 2)
        for _ in range(6)
    )
    d = d + 0.05
    d[grid.bins // 2 - gap_bins_below : grid.bins // 2 + gap_bins_above] = 0.0
    return d


def make_predictions(grid, tasks=TASKS, n=8, seed=0) -> Predictions:
    """Truth with known gaps (every third material a metal); predictions = truth shifted and noised."""
    rng = np.random.default_rng(seed)
    formulas = [FORMULAS[i % len(FORMULAS)] for i in range(n)]
    below = [0 if i % 3 == 0 else int(rng.integers(1, 12)) for i in range(n)]
    above = [0 if i % 3 == 0 else int(rng.integers(1, 12)) for i in range(n)]
    dos_true = np.stack([_spectrum(rng, grid, b, a) for b, a in zip(below, above, strict=True)])
    gap_true = (np.array(below) + np.array(above)) * grid.de
    zs = [z for f in formulas for z in Z[f]]
    ptr = np.concatenate([[0], np.cumsum([len(Z[f]) for f in formulas])]).astype(np.int64)
    epdos_true = np.stack([_spectrum(rng, grid, 0, 0) for _ in zs])

    def noisy(x, shift):
        return np.roll(x, shift, axis=-1) * rng.uniform(0.8, 1.2) + rng.normal(0, 0.05, x.shape)

    nan_n, nan_nt = np.full(n, np.nan), np.full((n, grid.bins), np.nan)
    return Predictions(
        ids=[f"mp-{100 + i}" for i in range(n)],
        formula=formulas,
        dos_pred=np.stack([noisy(d, int(rng.integers(-4, 5))) for d in dos_true]) if "dos" in tasks else nan_nt,
        dos_true=dos_true,
        epdos_pred=np.stack([noisy(d, int(rng.integers(-6, 7))) for d in epdos_true])
        if "epdos" in tasks
        else np.full(epdos_true.shape, np.nan),
        epdos_true=epdos_true,
        epdos_ptr=ptr,
        epdos_z=np.array(zs, np.int64),
        fermi_pred=rng.normal(5, 1, n) if "fermi" in tasks else nan_n,
        fermi_true=rng.normal(5, 1, n),
        gap_pred=np.clip(gap_true + rng.normal(0, 0.1, n), 0, None) if "gap" in tasks else nan_n,
        gap_true=gap_true,
        is_metal=gap_true == 0,
    )


def history(epochs=4):
    return [
        {"epoch": e, "train": {"loss": 2.0 / (e + 1)}, "val": {"loss": 2.5 / (e + 1)}, "lr": 1e-3 * (e + 1) / epochs}
        for e in range(epochs)
    ]


def write_model_dir(path, grid, tasks=TASKS, seed=0, n=8):
    path.mkdir(parents=True, exist_ok=True)
    make_predictions(grid, tasks, n, seed).save(path / "test_predictions.h5")
    write_json(path / "history.json", history())
    return path


@pytest.fixture(scope="session")
def full_predictions(grid):
    return make_predictions(grid, TASKS, n=8, seed=1)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, grid):
    """primary (4 tasks) and the four single-task models, each with predictions and history."""
    root = tmp_path_factory.mktemp("models")
    dirs = {"primary": write_model_dir(root / "primary", grid, TASKS, seed=2)}
    for task in TASKS:
        dirs[f"single_{task}"] = write_model_dir(root / "ablations" / f"single_{task}", grid, (task,), seed=3)
    return dirs


@pytest.fixture(scope="session")
def predictions_factory(grid):
    """make(tasks, n, seed) -> synthetic Predictions on the project grid."""
    return lambda tasks=TASKS, n=8, seed=0: make_predictions(grid, tasks, n, seed)


@pytest.fixture(scope="session")
def history_factory():
    return history


@pytest.fixture(scope="session")
def model_dir_factory(grid):
    """make(path, tasks, seed, n) -> a model directory (predictions + history) as training writes it."""
    return lambda path, tasks=TASKS, seed=0, n=8: write_model_dir(path, grid, tasks, seed, n)


def _train_fixtures():
    """The tiny processed data sets of tests/train (phonon_dirs), shared by file path as tests/families does."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "_train_conftest_eval", Path(__file__).parents[1] / "train" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


phonon_dirs = _train_fixtures().phonon_dirs
