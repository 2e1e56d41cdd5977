"""The encoder's per-atom embeddings are invariant to rotation, translation, atom order and supercells.

Tolerance: graphs store edge vectors in float32 (relative rounding ~6e-8) and the encoder runs in float32
through 4 layers with BatchNorm; differences of a few 1e-6 on O(1) embeddings are rounding, a broken
invariance shows up as O(0.1). We assert atol 1e-4 (two orders of magnitude above rounding, three below failure),
and check that a genuine change of geometry moves the embeddings by far more than that.
"""

import numpy as np
import pytest
import torch
from model_testkit import make_sample, tiny_config
from pymatgen.core import Lattice, Structure
from scipy.spatial.transform import Rotation

from dosforge.model import collate
from dosforge.model.encoder import ICoMFormerEncoder

ATOL = 1e-4


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(1)
    cfg = tiny_config()
    enc = ICoMFormerEncoder(cfg.d, **{k: cfg.encoder[k] for k in ("layers", "heads", "rbf_bins", "angle_bins")})
    for m in enc.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return enc.eval()


def embed(encoder, structure: Structure) -> np.ndarray:
    with torch.no_grad():
        return encoder(collate([make_sample(structure, "x", labels=False)])).numpy()


@pytest.mark.parametrize("name", ["tio2_tri", "gaas_mono"])
def test_rotation_and_translation(encoder, structures, name):
    s = structures[name]
    rot = Rotation.from_euler("zyx", [0.7, -0.4, 2.2]).as_matrix()
    moved = Structure(
        Lattice(s.lattice.matrix @ rot.T),
        s.species,
        s.cart_coords @ rot.T + [1.3, -0.2, 0.9],
        coords_are_cartesian=True,
    )
    h0, h1 = embed(encoder, s), embed(encoder, moved)
    assert np.abs(h0 - h1).max() < ATOL


def test_permutation(encoder, structures):
    s = structures["gaas_mono"]
    perm = [2, 0, 3, 1]
    permuted = Structure(s.lattice, [s.species[i] for i in perm], s.frac_coords[perm])
    h0, h1 = embed(encoder, s), embed(encoder, permuted)
    assert np.abs(h0[perm] - h1).max() < ATOL


@pytest.mark.parametrize("scaling", [[2, 1, 1], [[1, 1, 0], [0, 1, 0], [0, 0, 2]]])
def test_supercell(encoder, structures, scaling):
    s = structures["tio2_tri"]
    sc = s.copy()
    sc.make_supercell(scaling)
    h0, h1 = embed(encoder, s), embed(encoder, sc)
    for j in range(len(sc)):
        f = s.lattice.get_fractional_coords(sc.cart_coords[j])
        i = next(i for i in range(len(s)) if np.allclose((f - s.frac_coords[i] + 0.5) % 1, 0.5, atol=1e-6))
        assert np.abs(h0[i] - h1[j]).max() < ATOL


def test_a_real_geometry_change_is_seen(encoder, structures):
    s = structures["tio2_tri"]
    strained = Structure(Lattice(s.lattice.matrix * [1.0, 1.05, 1.0]), s.species, s.frac_coords)
    assert np.abs(embed(encoder, s) - embed(encoder, strained)).max() > 100 * ATOL
