"""Training on lazily loaded processed data (dosforge.shards_lazy) takes the eager run's steps bitwise."""

import torch
from train_testkit import PARAMS

from dosforge.predictions import Predictions
from dosforge.train.run import run_training


def test_lazy_and_eager_loads_train_identical_models(tiny_dirs, tmp_path, monkeypatch):
    import dosforge.shards_lazy

    processed, split = tiny_dirs
    outs = {}
    for mode, limit in (("eager", 1 << 62), ("lazy", 0)):  # load_processed(lazy=None) picks by this size limit
        monkeypatch.setattr(dosforge.shards_lazy, "EAGER_LIMIT_BYTES", limit)
        outs[mode] = tmp_path / mode
        run_training(PARAMS, processed_dir=processed, split_dir=split, out_dir=outs[mode], progress=False)
    for name in ("last.pt", "best.pt"):
        a, b = (torch.load(outs[m] / name, map_location="cpu", weights_only=False)["model_state"] for m in outs)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    pa, pb = (Predictions.load(outs[m] / "test_predictions.h5") for m in outs)
    assert (pa.dos_true == pb.dos_true).all() and (pa.dos_pred == pb.dos_pred).all()
