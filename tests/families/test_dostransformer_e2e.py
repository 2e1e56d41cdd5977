"""A tiny end-to-end run of the DOSTransformer baseline: stage script -> model directory -> factory -> predict."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from dosforge.config import ConfigError
from dosforge.families import checkpoint_family, load_model
from dosforge.families.dostransformer.train import resolve_config
from dosforge.io import read_json
from dosforge.predictions import Predictions

PARAMS = {
    "seed": 1,
    "grid": {"emin": -10.0, "emax": 10.0, "bins": 256},
    "baselines": {
        "dostransformer": {"family": "dostransformer", "preset": "cpu", "d": 8, "ffn_mult": 1, "epochs": 2,
                           "batch_size": 4, "mp_layers": 1, "l1": 1, "l2": 1, "l3": 1, "num_threads": 1}
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tiny_dirs, tmp_path_factory):
    from dosforge.families.dostransformer.train import run_baseline

    processed, split = tiny_dirs
    out = tmp_path_factory.mktemp("dt") / "models" / "baselines" / "dostransformer"
    summary = run_baseline(PARAMS, "dostransformer", processed_dir=processed, split_dir=split, out_dir=out,
                           log=lambda m: None)  # fmt: skip
    return out, summary, split


def test_model_directory(trained):
    out, summary, split = trained
    for f in ("best.pt", "history.json", "summary.json", "test_predictions.h5"):
        assert (out / f).is_file(), f
    assert summary["family"] == "dostransformer" and summary["epochs_run"] == 2
    pred = Predictions.load(out / "test_predictions.h5")
    assert Predictions.load_attrs(out / "test_predictions.h5")["tasks"] == "dos"
    assert pred.ids == sorted(read_json(split / "split.json")["test"])
    assert pred.dos_pred.shape == (len(pred), 256) and np.isfinite(pred.dos_pred).all()
    assert (pred.dos_pred >= 0).all()
    assert np.isnan(pred.fermi_pred).all() and np.isnan(pred.epdos_pred).all()


def test_factory_and_predict(trained):
    import dosforge

    out, _, _ = trained
    assert checkpoint_family(out) == "dostransformer"
    model, normalizer, meta = load_model(out)
    assert meta["model_family"] == "dostransformer" and model.config.d == 8
    predictor = dosforge.load_model(out / "best.pt")
    assert predictor.info.family == "dostransformer"
    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    res = predictor.predict([nacl])[0]
    assert res.dos.shape == (256,) and (res.dos >= 0).all() and res.epdos is None


def test_unknown_keys_and_presets_are_errors():
    with pytest.raises(ConfigError, match="paper"):
        resolve_config({"preset": "fast"})
    with pytest.raises(ConfigError):
        resolve_config({"learning_rate": 1})
    cfg, graph = resolve_config({"preset": "paper"})
    assert (cfg.d, cfg.lr, cfg.weight_decay, cfg.batch_size, cfg.patience, cfg.epochs) == (256, 1e-4, 1e-2, 8, 50, 1000)
    assert graph == {"radius": 8.0, "max_neighbors": 12, "gaussian_step": 0.2}


def test_stage_script_names_an_unknown_baseline(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    import yaml

    spec = importlib.util.spec_from_file_location(
        "baseline_stage", Path(__file__).parents[2] / "stages" / "baseline.py"
    )
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    assert stage.main(["nope", "--params", str(tmp_path / "params.yaml"), "--no-mlflow"]) == 2
    assert "nope" in capsys.readouterr().err
