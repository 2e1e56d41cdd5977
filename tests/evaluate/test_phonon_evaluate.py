"""The evaluate stage on phonon data: both families and both baselines scored with the phonon metrics, skipped
variants listed with their reason, the 3N and Debye checks, a report that says the labels are synthetic."""

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from dosforge.evaluate.phonon_metrics import debye_exponents, mode_ratios
from dosforge.evaluate.phonon_report import verdict

STAGE = Path(__file__).resolve().parents[2] / "stages" / "evaluate.py"
MODEL = {"tasks": ["dos", "epdos"], "coupling": "cross", "gap_head": "extract", "size": "small",
         "encoder": {"d": 16, "layers": 1, "rbf_bins": 8, "angle_bins": 8},
         "decoder": {"heads": 2, "head_dim": 8, "l1": 1, "l2": 1}}  # fmt: skip
PARAMS = {
    "seed": 3, "seeds": [4], "grid": {"emin": -10.0, "emax": 10.0, "bins": 256}, "model": MODEL, "loss": {},
    "train": {"preset": "cpu", "batch_size": 4, "eval_batch_size": 8},
    "phonon_model": {"tasks": ["dos", "epdos"], "n_patches": 17, "epochs": 3},
    "ablations": {"cross2": {"tasks": ["dos", "epdos"], "coupling": "cross", "gap_head": "extract"},
                  "single_fermi": {"tasks": ["fermi"], "coupling": "parallel", "gap_head": "extract"}},
    "baselines": {"dostransformer": {"family": "dostransformer", "preset": "cpu", "d": 8, "ffn_mult": 1, "epochs": 2,
                                     "batch_size": 4, "mp_layers": 1, "l1": 1, "l2": 1, "l3": 1, "num_threads": 1}},
    "evaluate": {"dpi": 30, "mlflow": False},
}  # fmt: skip


def test_debye_exponent_and_mode_count_of_known_spectra():
    w = np.linspace(0.0, 1000.0, 51)
    dos = np.stack([w**2, 3.0 * w**1.5, np.where(w < 60, 0.0, 1.0)])
    p = debye_exponents(dos, w)
    assert p[0] == pytest.approx(2.0) and p[1] == pytest.approx(1.5) and np.isnan(p[2])  # zeros in the window: none
    flat = np.full((1, 51), 6.0 / (51 * 20.0))  # 6 modes spread over the 51 points of 20 cm^-1
    assert mode_ratios(flat, np.array([1.0]), np.array([2.0]), 20.0) == pytest.approx([1.0])
    assert mode_ratios(flat / 2, np.array([2.0]), np.array([2.0]), 20.0) == pytest.approx([1.0])  # back on its scale


def test_verdict_needs_both_baselines_beaten_beyond_the_seed_noise():
    base = {"a": {"dos.mse": 1.0, "dos.wd_cm": 50.0}, "b": {"dos.mse": 0.8, "dos.wd_cm": 60.0}}
    spread = {"n_runs": 3, "dos.mse": {"std": 0.01, "n": 3}, "dos.wd_cm": {"std": 1.0, "n": 3}}
    assert verdict({"dos.mse": 0.5, "dos.wd_cm": 40.0}, base, spread) == "yes"
    assert verdict({"dos.mse": 0.5, "dos.wd_cm": 48.0}, base, spread) == "below, within noise"
    assert verdict({"dos.mse": 0.9, "dos.wd_cm": 40.0}, base, spread) == "no"
    assert verdict({"dos.mse": 0.5, "dos.wd_cm": 40.0}, base, None) == "below (no seed spread)"


@pytest.fixture(scope="module")
def evaluated(phonon_dirs, tmp_path_factory):
    from dosforge.families.dostransformer.train import run_baseline
    from dosforge.train.run import run_training

    processed, split = phonon_dirs
    root = tmp_path_factory.mktemp("phonon_eval")
    models = root / "models"
    params = copy.deepcopy(PARAMS)
    kw = {"processed_dir": processed, "split_dir": split, "progress": False}
    run_training(params, out_dir=models / "primary", **kw)
    run_training(params, seed=4, out_dir=models / "seeds" / "4", **kw)
    for variant in params["ablations"]:
        run_training(params, variant=variant, out_dir=models / "ablations" / variant, **kw)
    run_baseline(params, "dostransformer", processed_dir=processed, split_dir=split,
                 out_dir=models / "baselines" / "dostransformer", log=lambda m: None)  # fmt: skip
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    spec = importlib.util.spec_from_file_location("evaluate_stage_phonon", STAGE)
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    argv = ["--params", str(root / "params.yaml"), "--processed", str(processed), "--split", str(split),
            "--models", str(models), "--metrics", str(root / "metrics"), "--plots", str(root / "plots"),
            "--report", str(root / "reports" / "evaluation.md")]  # fmt: skip
    assert stage.main(argv) == 0
    return root


def test_every_model_and_baseline_has_phonon_metrics(evaluated):
    read = lambda name: json.loads((evaluated / "metrics" / f"{name}.json").read_text(), parse_constant=pytest.fail)  # noqa: E731
    for name in ("primary", "cross2", "dostransformer", "baseline_mean", "baseline_composition_nn", "seeds/4"):
        m = read(name)
        assert m["dos.wd_cm"] > 0 and m["dos.mse"] >= 0 and m["n_test"] == 4, name
        assert m["fermi.mae_ev"] is None and "no Fermi level" in m["null_reasons"]["fermi.mae_ev"], name
    assert read("dostransformer")["epdos.wd_cm"] is None  # DOSTransformer predicts the total DOS only
    assert read("single_fermi") == {"skipped": True, "reason": read("single_fermi")["reason"]}
    assert read("seed_spread")["n_runs"] == 2 and read("gap_validation")["skipped"]
    truth = read("baseline_mean")["modes.true_over_3n"]
    assert truth == pytest.approx(read("primary")["modes.true_over_3n"])


def test_report_and_figures(evaluated):
    report = (evaluated / "reports" / "evaluation.md").read_text()
    assert "SYNTHETIC phonon labels" in report and "not DFPT" in report
    assert "| baseline_composition_nn |" in report and "| dostransformer |" in report
    assert "`single_fermi`: variant 'single_fermi' trains ['fermi']" in report and "## Physical checks" in report
    for sub, name in (("spectra", "primary"), ("spectra", "dostransformer"), ("parity", "primary"),
                      ("learning_curves", "cross2"), ("spectra", "baseline_composition_nn")):  # fmt: skip
        assert (evaluated / "plots" / sub / f"{name}.png").stat().st_size > 1000, (sub, name)
