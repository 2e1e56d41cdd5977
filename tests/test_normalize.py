"""Normalisation statistics: training split only, clipped at the 99.9th percentile, per element for EPDOS."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dosforge.normalize import Normalizer
from dosforge.shards import ProcessedData

T = 256


def dataset(n: int = 40, seed: int = 0) -> ProcessedData:
    rng = np.random.default_rng(seed)
    z_rows = [np.array([8, 14]) if i % 2 else np.array([26]) for i in range(n)]
    epdos_ptr = np.concatenate([[0], np.cumsum([len(z) for z in z_rows])])
    m = int(epdos_ptr[-1])
    return ProcessedData(
        ids=[f"m-{i}" for i in range(n)],
        formula=["X"] * n,
        point_group=["1"] * n,
        source=["files"] * n,
        gap_origin=["dos"] * n,
        synthetic=np.zeros(n, bool),
        dos=rng.gamma(2.0, 1.0, (n, T)).astype(np.float32),
        epdos=rng.gamma(2.0, 0.5, (m, T)).astype(np.float32),
        epdos_ptr=epdos_ptr,
        epdos_z=np.concatenate(z_rows),
        epdos_residual=np.zeros(n, np.float32),
        efermi=rng.normal(5, 2, n).astype(np.float32),
        gap=rng.uniform(0, 3, n).astype(np.float32),
        is_metal=np.zeros(n, bool),
        atom_ptr=np.arange(n + 1),
        atomic_numbers=np.ones(n, np.int64),
        cart_coords=np.zeros((n, 3), np.float32),
        lattice=np.tile(np.eye(3, dtype=np.float32), (n, 1, 1)),
        graph={},
    )


def test_statistics_come_from_the_training_split_only(tmp_path):
    data = dataset()
    train = data.ids[:30]
    a = Normalizer.fit(data, train)
    data.dos[30:] *= 100  # val/test change: statistics must not
    data.epdos[data.epdos_ptr[30] :] *= 100
    data.efermi[30:] += 50
    b = Normalizer.fit(data, train)
    assert a.stats == b.stats
    rows = np.arange(30)
    clip = np.percentile(data.dos[rows].astype(float), 99.9)
    assert a.stats["dos"]["clip"] == pytest.approx(clip)
    assert a.stats["dos"]["mean"] == pytest.approx(np.minimum(data.dos[rows].astype(float), clip).mean())
    assert a.stats["fermi"]["mean"] == pytest.approx(data.efermi[rows].astype(float).mean())
    assert set(a.stats["epdos"]) == {"8", "14", "26"}
    a.to_json(tmp_path / "normalization.json")
    assert Normalizer.from_json(tmp_path / "normalization.json").stats == a.stats


def test_normalise_clips_then_standardises_and_denormalises(tmp_path):
    data = dataset()
    nz = Normalizer.fit(data, data.ids[:30])
    x = data.dos[:3]
    back = nz.denorm_dos(nz.norm_dos(x))
    np.testing.assert_allclose(back, np.minimum(x, nz.stats["dos"]["clip"]), rtol=1e-5)
    assert nz.norm_dos(np.array([1e6])) == pytest.approx(nz.norm_dos(np.array([nz.stats["dos"]["clip"]])))
    # per element: rows with different Z use their own statistics; numpy and torch agree
    rows, z = data.epdos[:3], data.epdos_z[:3]
    n_np = nz.norm_epdos(rows, z)
    n_t = nz.norm_epdos(torch.from_numpy(rows), torch.from_numpy(z))
    np.testing.assert_allclose(n_t.numpy(), n_np, rtol=1e-5, atol=1e-5)
    s8 = nz.stats["epdos"]["8"]
    expected8 = (np.minimum(rows[z == 8], s8["clip"]) - s8["mean"]) / s8["std"]
    np.testing.assert_allclose(n_np[z == 8], expected8, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        nz.denorm_epdos(n_t, torch.from_numpy(z)).numpy(),
        np.minimum(rows, nz._per_row(rows, z)[0]),
        rtol=1e-4,
        atol=1e-5,
    )
    assert nz.denorm_gap(nz.norm_gap(1.25)) == pytest.approx(1.25)
    assert nz.denorm_fermi(nz.norm_fermi(torch.tensor([3.0]))).item() == pytest.approx(3.0)


def test_element_absent_from_training_uses_the_pooled_statistics():
    data = dataset()
    nz = Normalizer.fit(data, data.ids[:30])
    d = nz.stats["epdos_default"]
    out = nz.norm_epdos(np.array([[1.0] * T]), np.array([92]))
    assert out[0, 0] == pytest.approx((min(1.0, d["clip"]) - d["mean"]) / d["std"])
