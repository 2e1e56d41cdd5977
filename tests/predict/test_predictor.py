"""Batched inference: what a result holds, batch = one at a time, invariance to rotation and to the cell."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core.operations import SymmOp
from pymatgen.electronic_structure.core import Spin
from pymatgen.electronic_structure.dos import Dos

from dosforge.gap import threshold_gap
from dosforge.predict import PredictionFailure, PredictionResult, Predictor, StructureError, StructureInput

# Batch vs single: the same float32 operations on the same inputs, only padded attention keys and
# scatter order differ between a batch and a single structure, so differences stay at float32
# rounding (~1e-7 relative); 1e-5 of the spectrum's scale leaves room for accumulation over layers.
BATCH_RTOL = 1e-5
# Rotation / re-celling: the crystal graph is rebuilt from rotated coordinates (or a reduced cell), so
# edge vectors differ by float32 rounding of |r| ~ 1e-6 A, propagated through the RBF features and the
# attention layers; 1e-4 of the scale is far below any physical difference (a 0.078 eV bin shift changes
# the spectrum by O(1) of its scale).
GEOMETRY_RTOL = 1e-4


def _close(a: PredictionResult, b: PredictionResult, rtol: float, scale_b: float = 1.0) -> None:
    scale = max(1.0, float(np.abs(a.dos).max()))
    np.testing.assert_allclose(a.dos, b.dos * scale_b, rtol=0, atol=rtol * scale)
    assert list(a.epdos) == list(b.epdos)
    for el in a.epdos:
        np.testing.assert_allclose(a.epdos[el], b.epdos[el] * scale_b, rtol=0, atol=rtol * scale)
    for key in ("efermi", "gap", "gap_ext"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), abs=rtol * 10), key


def test_result_holds_every_quantity_in_original_units(predictor, gan):
    [r] = predictor.predict(gan, ids=["GaN"])
    grid = predictor.grid
    assert r.id == "GaN" and r.formula == "GaN" and r.n_sites == r.n_sites_model == 4 and r.synthetic
    np.testing.assert_allclose(r.energies, grid.centers)
    np.testing.assert_allclose(r.energies_absolute, grid.centers + r.efermi)
    assert r.dos.shape == (256,) and (r.dos >= 0).all() and np.isfinite(r.dos).all()
    assert list(r.epdos) == ["N", "Ga"]  # sorted by atomic number
    assert all(v.shape == (256,) and (v >= 0).all() for v in r.epdos.values())
    assert np.isfinite(r.efermi) and r.gap >= 0
    assert r.gap_ext == pytest.approx(float(threshold_gap(r.dos, grid.de)))


def test_batch_gives_the_same_numbers_as_one_at_a_time(predictor, good_structures):
    names, structures = list(good_structures), list(good_structures.values())
    batched = predictor.predict(structures, ids=names, batch_size=len(structures))
    for name, s, b in zip(names, structures, batched, strict=True):
        [single] = predictor.predict(s, ids=[name], batch_size=1)
        _close(b, single, BATCH_RTOL)


def test_rotated_and_translated_structure_gives_the_same_prediction(predictor, gan):
    moved = gan.copy()
    rotation = SymmOp.from_axis_angle_and_translation([1, 2, 3], 37.0, translation_vec=[0.3, -1.1, 0.7])
    moved.apply_operation(rotation)
    moved.translate_sites(list(range(len(moved))), [0.13, 0.29, 0.41])
    a, b = predictor.predict([gan, moved])
    _close(a, b, GEOMETRY_RTOL)


def test_supercell_and_conventional_cell_give_the_same_prediction_per_primitive_cell(predictor, silicon, rocksalt):
    prim_si, prim_nacl = predictor.predict([silicon, rocksalt])
    for prim, bigger in ((prim_si, silicon * (2, 2, 1)), (prim_nacl, rocksalt.to_conventional())):
        [r] = predictor.predict(bigger)
        factor = len(bigger) / len(prim.structure)
        assert r.n_sites == len(bigger) and r.n_sites_model == len(prim.structure)
        # spectra are per input cell (extensive); E_F, E_g and E_g^ext are intensive
        _close(r, prim, GEOMETRY_RTOL * factor, scale_b=factor)


def test_keep_cell_feeds_the_cell_as_given(predictor, silicon):
    [r] = predictor.predict(silicon * (2, 1, 1), primitive=False)
    assert r.n_sites == r.n_sites_model == 4


def test_size_limit_applies_to_the_cell_the_model_sees(predictor, silicon):
    [r] = predictor.predict(silicon * (2, 2, 2), max_atoms=8)  # 16 sites in, 2 seen: predicted
    assert r.n_sites == 16 and r.n_sites_model == 2
    with pytest.raises(StructureError, match="too large: 16 sites > max_atoms=8"):
        predictor.predict(silicon * (2, 2, 2), max_atoms=8, primitive=False)


class _CountsBatches(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.sizes = model, []

    def forward(self, batch):
        self.sizes.append([int((batch.batch == b).sum()) for b in range(int(batch.num_graphs))])
        return self.model(batch)


def test_batches_are_capped_in_atoms_as_well_as_structures(predictor, good_structures, monkeypatch):
    import dosforge.predict.predictor as predictor_module

    monkeypatch.setattr(predictor_module, "MAX_BATCH_ATOMS", 5)
    counting = _CountsBatches(predictor.model)
    wrapped = Predictor(counting, predictor.normalizer, predictor.info)
    results = wrapped.predict(list(good_structures.values()), batch_size=32)  # Si 2, NaCl 2, GaN 4, Cu 1 atoms
    assert counting.sizes == [[2, 2], [4, 1]]
    for r, alone in zip(results, predictor.predict(list(good_structures.values()), batch_size=1), strict=True):
        _close(r, alone, BATCH_RTOL)


def test_to_pymatgen_gives_dos_objects_that_pymatgen_plots(predictor, gan):
    import matplotlib

    matplotlib.use("Agg")
    from pymatgen.electronic_structure.plotter import DosPlotter

    [r] = predictor.predict(gan)
    total, by_element = r.to_pymatgen()
    assert isinstance(total, Dos) and set(by_element) == {"Ga", "N"}
    np.testing.assert_array_equal(total.densities[Spin.up], r.dos)
    np.testing.assert_allclose(total.energies, r.energies_absolute)
    assert total.efermi == pytest.approx(r.efermi)
    np.testing.assert_array_equal(by_element["Ga"].densities[Spin.up], r.epdos["Ga"])
    plotter = DosPlotter()
    plotter.add_dos("Total", total)
    plotter.add_dos_dict(by_element)
    ax = plotter.get_plot()
    assert len(ax.get_lines()) >= 3  # total + two elements drawn


def test_predict_refuses_bad_structures_naming_each(predictor, silicon, bad_structures):
    with pytest.raises(StructureError) as err:
        predictor.predict([silicon, bad_structures["noble"], bad_structures["unseen"]], ids=["Si", "Ar", "PuO"])
    msg = str(err.value)
    assert "Ar: contains noble gas(es) Ar" in msg and "PuO: element(s) Pu never seen" in msg and "Si:" not in msg


def test_run_reports_each_bad_input_while_the_others_are_predicted(predictor, silicon, gan, bad_structures):
    inputs = [StructureInput("Si", "python", structure=silicon)]
    inputs += [StructureInput(k, "python", structure=s) for k, s in bad_structures.items()]
    inputs += [StructureInput("broken", "broken.cif", error="unreadable structure file: ValueError: bad")]
    inputs += [StructureInput("GaN", "python", structure=gan)]
    outcomes = predictor.run(inputs, batch_size=2, max_atoms=10, progress=False)
    assert [o.id for o in outcomes] == [i.id for i in inputs]  # input order kept
    assert isinstance(outcomes[0], PredictionResult) and isinstance(outcomes[-1], PredictionResult)
    reasons = {o.id: o.reason for o in outcomes if isinstance(o, PredictionFailure)}
    assert set(reasons) == {*bad_structures, "broken"}
    assert "partial occupancy" in reasons["disordered"] and "partial occupancy" in reasons["vacancy"]
    assert "noble gas" in reasons["noble"] and "never seen" in reasons["unseen"]
    assert "too large: 432 sites > 2 x max_atoms=10" in reasons["large"]  # refused before the primitive search
    assert "too large: its primitive cell has 16 sites > max_atoms=10" in reasons["large_primitive"]
    assert "unreadable" in reasons["broken"]
    [alone] = predictor.predict(gan)  # the failures did not disturb the good structures' numbers
    _close(outcomes[-1], alone, BATCH_RTOL)


def test_cuda_request_without_cuda_is_a_clear_error(checkpoint):
    import torch

    import dosforge

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        dosforge.load_model(checkpoint, device="cuda")


def test_missing_checkpoint_says_how_to_get_one(tmp_path):
    import dosforge
    from dosforge.predict import CheckpointError

    with pytest.raises(CheckpointError, match="checkpoint not found"):
        dosforge.load_model(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        dosforge.load_model(tmp_path / "junk.pt")


class _FailsOnCopper(torch.nn.Module):
    """The real model, except that a batch holding a Cu atom raises (stands in for any per-structure failure)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        if (batch.z == 29).any():
            raise FloatingPointError("simulated failure")
        return self.model(batch)


def test_a_structure_failing_inside_the_model_fails_alone(predictor, silicon, copper, gan):
    wrapped = Predictor(_FailsOnCopper(predictor.model), predictor.normalizer, predictor.info)
    inputs = [StructureInput(n, "python", structure=s) for n, s in (("Si", silicon), ("Cu", copper), ("GaN", gan))]
    si, cu, gan_r = wrapped.run(inputs, batch_size=3, progress=False)
    assert isinstance(cu, PredictionFailure) and "model failed: FloatingPointError" in cu.reason
    [alone] = predictor.predict(gan)
    _close(gan_r, alone, BATCH_RTOL)
    assert isinstance(si, PredictionResult)


def test_checkpoint_without_spectral_tasks_gives_scalars_only(tmp_path, gan, tiny_checkpoint_writer):
    import dosforge

    path = tiny_checkpoint_writer(tmp_path / "best.pt", tasks=["fermi", "gap"], gap_head="pool")
    [r] = dosforge.load_model(path).predict(gan)
    assert r.dos is None and r.epdos is None and np.isnan(r.gap_ext)
    assert np.isfinite(r.efermi) and r.gap >= 0
    with pytest.raises(ValueError, match="neither DOS nor EPDOS"):
        r.to_pymatgen()


def test_graph_parameters_come_from_the_checkpoint_in_either_shape():
    from dosforge.predict import CheckpointInfo

    base = {"grid": {"emin": -10, "emax": 10, "bins": 256}, "elements": [14], "model_config": {"tasks": ["dos"]}}
    nested = {"params": {"cutoff": 5.0, "max_neighbors": 12}, "keys": ["edge_index"]}  # preprocess manifest shape
    assert CheckpointInfo.from_meta({**base, "graph_params": nested}).graph == {"cutoff": 5.0, "max_neighbors": 12}
    flat = {"cutoff": 3.5, "max_neighbors": 20}
    assert CheckpointInfo.from_meta({**base, "graph_params": flat}).graph == flat
    assert CheckpointInfo.from_meta(base).graph == {"cutoff": 4.0, "max_neighbors": 25}  # build_graph's defaults
    with pytest.raises(ValueError, match="lacks metadata"):
        CheckpointInfo.from_meta({"grid": base["grid"]})


class _NaNFermiForSilicon(torch.nn.Module):
    """The real model, except that structures made only of Si get a NaN Fermi level."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        out = dict(self.model(batch))
        only_si = torch.stack([(batch.z[batch.batch == b] == 14).all() for b in range(int(batch.num_graphs))])
        out["fermi"] = torch.where(only_si, torch.nan, out["fermi"].reshape(-1))
        return out


def test_non_finite_model_output_is_a_failure_not_a_number(predictor, silicon, gan):
    wrapped = Predictor(_NaNFermiForSilicon(predictor.model), predictor.normalizer, predictor.info)
    inputs = [StructureInput("Si", "python", structure=silicon), StructureInput("GaN", "python", structure=gan)]
    si, gan_r = wrapped.run(inputs, progress=False)
    assert isinstance(si, PredictionFailure) and si.reason == "model produced non-finite values for fermi"
    assert isinstance(gan_r, PredictionResult) and np.isfinite(gan_r.efermi)


def test_a_phonon_checkpoint_is_refused_with_the_reason():
    from dosforge.predict.predictor import CheckpointInfo

    meta = {"grid": {"fmin": 0.0, "fmax": 1000.0, "points": 51, "unit": "cm^-1", "bins": 51}, "elements": [11, 17],
            "model_config": {"tasks": ["dos", "epdos"]}}  # fmt: skip
    with pytest.raises(ValueError, match="trained on phonon DOS"):
        CheckpointInfo.from_meta(meta, "models/primary/best.pt")
