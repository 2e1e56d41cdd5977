"""DOSTransformer on phonon data (issue 11): the phDOS graph and mean aggregation, the frequency grid, a checkpoint
that reloads with the mean processor."""

from dosforge.families import load_model
from dosforge.families.dostransformer.phonon_graph import MeanProcessorLayer
from dosforge.io import read_json
from dosforge.predictions import Predictions

PARAMS = {
    "seed": 1,
    "grid": {"emin": -10.0, "emax": 10.0, "bins": 256},  # the electron grid: not used on phonon data
    "baselines": {
        "dostransformer": {"family": "dostransformer", "preset": "cpu", "d": 8, "ffn_mult": 1, "epochs": 2,
                           "batch_size": 4, "mp_layers": 1, "l1": 1, "l2": 1, "l3": 1, "num_threads": 1}
    },
}  # fmt: skip


def test_baseline_trains_on_phonon_data_and_reloads_with_the_mean_processor(phonon_dirs, tmp_path):
    from dosforge.families.dostransformer.train import run_baseline

    processed, split = phonon_dirs
    summary = run_baseline(PARAMS, "dostransformer", processed_dir=processed, split_dir=split, out_dir=tmp_path,
                           log=lambda m: None)  # fmt: skip
    assert summary["epochs_run"] == 2 and summary["graph"]["radius"] == 4.0
    pred = Predictions.load(tmp_path / "test_predictions.h5")
    assert pred.dos_pred.shape == (len(read_json(split / "split.json")["test"]), 51) and (pred.dos_pred >= 0).all()
    model, _, meta = load_model(tmp_path / "best.pt")
    assert meta["spectrum"] == "phonon" and meta["grid"]["unit"] == "cm^-1"
    assert model.config.atom_dim == 118 and model.config.edge_dim == 4
    assert all(isinstance(layer, MeanProcessorLayer) for layer in model.processor)
