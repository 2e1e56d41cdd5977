"""A checkpoint written before issue 9 (encoder with the unused lattice embedding) fails with a clear error."""

import pytest
import torch

from dosforge.train.checkpoint import load_model


def test_pre_issue_9_checkpoint_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "best.pt"
    state = {"encoder.edge_update.lemb.weight": torch.zeros(3, 4), "encoder.edge_update.lin_len.weight": torch.zeros(2)}
    torch.save({"model_state": state, "model_config": {}, "normalization": {}}, path)
    with pytest.raises(ValueError, match="trained before issue 9.*retrain it"):
        load_model(path)
