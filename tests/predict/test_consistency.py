"""Physical consistency of predictions: never negative, and element DOS optionally rescaled to the total DOS."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from dosforge.cli import EXIT_OK, EXIT_USAGE, main
from dosforge.io import read_json
from dosforge.predict import Predictor, StructureInput
from dosforge.predict.consistency import element_sum_residual, rescale_to_total
from dosforge.predict.output import write_run

SUM_ATOL = 1e-6  # states/eV: the rescaled rows sum to the total up to float64 rounding (~1e-15 relative)


class _Shifted(torch.nn.Module):
    """The real model with its heads shifted in normalised space: `dos`/`gap` down (so that denormalised values
    go negative), `epdos` up (so the element DOS exceed the total, as Nb's did in Nb3Sn, issue 9)."""

    def __init__(self, model, dos: float = -0.5, epdos: float = 3.0, gap: float = -5.0):
        super().__init__()
        self.model, self.shift = model, {"dos": dos, "epdos": epdos, "gap": gap}

    def forward(self, batch):
        out = dict(self.model(batch))
        for key, shift in self.shift.items():
            if key in out:
                out[key] = out[key] + shift
        return out


@pytest.fixture(scope="module")
def shifted(predictor):
    return Predictor(_Shifted(predictor.model), predictor.normalizer, predictor.info)


def test_rescale_to_total_on_constructed_spectra():
    dos = np.array([2.0, 1.0, 0.0, 3.0, 0.5])
    epdos = {"Nb": np.array([3.0, 0.2, 0.4, 0.0, 0.0]), "Sn": np.array([1.0, 0.3, 0.0, 0.0, 0.0])}
    out = rescale_to_total(epdos, dos)
    np.testing.assert_allclose(out["Nb"], [1.5, 0.4, 0.0, 0.0, 0.0])  # bin 0: 2 x 3/4; bin 1: 1 x 0.2/0.5
    np.testing.assert_allclose(out["Sn"], [0.5, 0.6, 0.0, 0.0, 0.0])
    summed = out["Nb"] + out["Sn"]
    np.testing.assert_allclose(summed[:3], dos[:3], atol=SUM_ATOL)  # bin 2: total 0, so the element DOS go to 0
    assert (summed[3:] == 0).all()  # bins whose element sum is 0 keep their zeros (no share to scale)
    assert element_sum_residual(epdos, dos) == pytest.approx((2 + 0.5 + 0.4 + 3 + 0.5) / 6.5)
    assert element_sum_residual(out, dos) == pytest.approx(3.5 / 6.5)  # exactly the zero-sum bins remain
    assert element_sum_residual(epdos, np.zeros(5)) == 1.0  # no total but element states: a full violation
    assert element_sum_residual({k: np.zeros(5) for k in epdos}, np.zeros(5)) == 0.0  # nothing at all: holds
    assert np.isnan(element_sum_residual({}, dos))


def test_outputs_are_never_negative(shifted, gan, silicon):
    for rescale in (False, True):
        results = shifted.predict([gan, silicon], ids=["GaN", "Si"], rescale_epdos=rescale)
        for r in results:
            assert (r.dos >= 0).all() and all((v >= 0).all() for v in r.epdos.values()) and r.gap >= 0
            assert (r.dos == 0).any()  # the shift made some raw densities negative: they are 0, not negative
    assert any(r.gap == 0 for r in shifted.predict([gan, silicon]))  # the shifted gap head went below 0


def test_rescaled_element_dos_sum_to_the_total(shifted, gan, silicon):
    plain = shifted.predict([gan, silicon], ids=["GaN", "Si"])
    rescaled = shifted.predict([gan, silicon], ids=["GaN", "Si"], rescale_epdos=True)
    for p, r in zip(plain, rescaled, strict=True):
        raw_sum = sum(p.epdos.values())
        assert (raw_sum > p.dos).any()  # the element DOS lay above the total before rescaling
        assert p.epdos_sum_residual > 0.1 and r.epdos_sum_residual == p.epdos_sum_residual  # the model's own
        np.testing.assert_array_equal(r.dos, p.dos)  # the total is untouched
        positive = raw_sum > 0
        np.testing.assert_allclose(sum(r.epdos.values())[positive], r.dos[positive], rtol=0, atol=SUM_ATOL)
        assert (sum(r.epdos.values())[~positive] == 0).all()
        assert r.epdos_rescaled and not p.epdos_rescaled
        assert list(r.epdos) == list(p.epdos)


def test_rescaling_holds_per_input_cell(shifted, silicon):
    """A supercell's spectra are scaled per input cell after rescaling; the sum rule still holds."""
    [r] = shifted.predict(silicon * (2, 1, 1), rescale_epdos=True)
    assert r.n_sites == 2 * r.n_sites_model
    positive = sum(r.epdos.values()) > 0
    np.testing.assert_allclose(sum(r.epdos.values())[positive], r.dos[positive], rtol=0, atol=SUM_ATOL)


def test_metadata_json_and_csv_state_the_option(tmp_path, shifted, gan):
    for rescale in (True, False):
        outcomes = shifted.run([StructureInput("GaN", "gan.cif", structure=gan)], progress=False, rescale_epdos=rescale)
        paths = write_run(tmp_path / str(rescale), outcomes, shifted.info)
        payload = read_json(paths["json"])
        meta = payload["metadata"]
        assert meta["rescale_epdos"] is rescale
        assert ("RESCALED" in meta["units"]["epdos"]) is rescale
        [row] = payload["structures"]
        assert row["epdos_rescaled"] is rescale and row["epdos_sum_residual"] > 0
        with open(paths["csv"], newline="") as fh:
            [csv_row] = list(csv.DictReader(fh))
        assert csv_row["epdos_rescaled"] == str(rescale) and float(csv_row["epdos_sum_residual"]) > 0
    with pytest.raises(ValueError, match="disagrees"):
        write_run(tmp_path / "x", outcomes, shifted.info, rescale_epdos=True)  # the last outcomes: not rescaled


def test_command_line_option_and_a_checkpoint_without_epdos(tmp_path, checkpoint, gan, tiny_checkpoint_writer, capsys):
    gan.to(filename=str(tmp_path / "GaN.cif"))
    out = tmp_path / "out"
    rc = main(["predict", str(tmp_path / "GaN.cif"), "-c", str(checkpoint), "-o", str(out), "-q", "--rescale-epdos"])
    assert rc == EXIT_OK
    payload = read_json(out / "predictions.json")
    assert payload["metadata"]["rescale_epdos"] is True
    [row] = payload["structures"]
    total, parts = np.asarray(row["dos"]), sum(np.asarray(v) for v in row["epdos"].values())
    np.testing.assert_allclose(parts[parts > 0], total[parts > 0], rtol=0, atol=SUM_ATOL)
    dos_only = tiny_checkpoint_writer(tmp_path / "dos_only.pt", tasks=["dos"], gap_head="extract")
    rc = main(
        ["predict", str(tmp_path / "GaN.cif"), "-c", str(dos_only), "-o", str(tmp_path / "o2"), "--rescale-epdos"]
    )
    assert rc == EXIT_USAGE and "needs a checkpoint that predicts both dos and epdos" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
