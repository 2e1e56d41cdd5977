"""The one denormalisation of model outputs (evaluation's test_predictions.h5 and `dosforge predict`)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import torch

from dosforge.normalize import Normalizer
from dosforge.train.inference import denorm_outputs

STATS = {
    "dos": {"clip": 40.0, "mean": 1.0, "std": 2.0},
    "epdos": {"14": {"clip": 30.0, "mean": 0.5, "std": 1.0}},
    "epdos_default": {"clip": 30.0, "mean": 0.5, "std": 1.0},
    "fermi": {"mean": 3.0, "std": 2.0},
    "gap": {"mean": 1.0, "std": 1.0},
}


def test_densities_and_gap_are_never_negative_fermi_may_be_and_nan_stays():
    out = {
        "dos": torch.tensor([[-3.0, 0.0, 1.0, math.nan]]),  # -> -5, 1, 3, NaN before clipping
        "epdos": torch.tensor([[-1.0, 0.5, -0.5, 2.0]]),  # -> -0.5, 1.0, 0.0, 2.5
        "fermi": torch.tensor([[-4.0]]),  # -> -5 eV: an absolute Fermi level may be negative
        "gap": torch.tensor([-3.0]),  # -> -2 eV from an unconstrained head (pool/mlp)
    }
    batch = SimpleNamespace(group_z=torch.tensor([14]))
    res = denorm_outputs(out, batch, Normalizer(STATS))
    np.testing.assert_array_equal(res["dos"], [[0.0, 1.0, 3.0, np.nan]])
    np.testing.assert_array_equal(res["epdos"], [[0.0, 1.0, 0.0, 2.5]])
    np.testing.assert_array_equal(res["fermi"], [-5.0])
    np.testing.assert_array_equal(res["gap"], [0.0])
