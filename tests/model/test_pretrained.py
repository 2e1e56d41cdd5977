"""The pretrained-encoder file and the encoder's mask hook: strict loading, clear errors, masked rows."""

import json

import pytest
import torch
from model_testkit import TINY, make_sample, tiny_config

from dosforge.config import ConfigError
from dosforge.model import DOSForge, ModelConfig, collate
from dosforge.model.pretrained import (
    load_encoder_state,
    model_init,
    read_pretrained_encoder,
    save_pretrained_encoder,
)
from dosforge.shards import sha256

GRAPH = {"cutoff": 4.0, "max_neighbors": 12}


def _config(**encoder) -> ModelConfig:
    return ModelConfig(size="small", encoder={**TINY["encoder"], **encoder}, decoder=TINY["decoder"])


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(7)
    model = DOSForge(tiny_config())
    path = tmp_path / "encoder.pt"
    sha = save_pretrained_encoder(path, model.encoder, model_config=model.config, graph_params=GRAPH, info={"m": 1})
    return path, sha, model


def test_matching_encoder_loads_strictly_and_is_hashed(saved):
    path, sha, source = saved
    state, record = read_pretrained_encoder(path, model_config=tiny_config(), graph_params=GRAPH)
    assert record == {"path": str(path), "sha256": sha, "info": {"m": 1}} and sha == sha256(path)
    torch.manual_seed(8)
    target = DOSForge(tiny_config())
    assert not torch.equal(target.encoder.atom_embedding.weight, source.encoder.atom_embedding.weight)
    load_encoder_state(target.encoder, state)
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(target.encoder.state_dict()[key], value), key


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (_config(d=16), "d: file 32 vs now 16"),
        (_config(layers=2), "layers: file 4 vs now 2"),
        (tiny_config(atom_features="pymatgen"), "atom_features: file 'cgcnn' vs now 'pymatgen'"),
    ],
)
def test_other_encoder_sizes_are_named(saved, config, named):
    with pytest.raises(ConfigError, match="pretrained for another encoder") as err:
        read_pretrained_encoder(saved[0], model_config=config, graph_params=GRAPH)
    assert named in str(err.value)


def test_other_graph_parameters_are_named(saved):
    with pytest.raises(ConfigError, match="max_neighbors: file 12 vs now 25"):
        read_pretrained_encoder(saved[0], model_config=tiny_config(), graph_params={"cutoff": 4.0, "max_neighbors": 25})
    with pytest.raises(ConfigError, match="cutoff: file 4.0 vs now 5.0"):
        read_pretrained_encoder(saved[0], model_config=tiny_config(), graph_params={"cutoff": 5, "max_neighbors": 12})


def test_missing_file_says_to_run_the_pretrain_stage(tmp_path):
    with pytest.raises(ConfigError, match="run the pretrain stage first") as err:
        read_pretrained_encoder(tmp_path / "encoder.pt", model_config=tiny_config(), graph_params=GRAPH)
    assert "skipped" not in str(err.value)
    (tmp_path / "skipped.json").write_text(json.dumps({"pretrained": False}))
    with pytest.raises(ConfigError, match="pretraining was skipped because model.init was scratch"):
        read_pretrained_encoder(tmp_path / "encoder.pt", model_config=tiny_config(), graph_params=GRAPH)


def test_foreign_file_and_wrong_keys_are_rejected(saved, tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"model_state": {}}, other)
    with pytest.raises(ConfigError, match="not a DOSForge pretrained encoder"):
        read_pretrained_encoder(other, model_config=tiny_config(), graph_params=GRAPH)
    state, _ = read_pretrained_encoder(saved[0], model_config=tiny_config(), graph_params=GRAPH)
    state.pop("atom_embedding.bias")
    with pytest.raises(ConfigError, match="does not fit"):
        load_encoder_state(DOSForge(tiny_config()).encoder, state)


def test_model_init_is_validated():
    assert model_init({}) == "scratch" and model_init({"init": "pretrained"}) == "pretrained"
    with pytest.raises(ConfigError, match="scratch, pretrained"):
        model_init({"init": "pretrain"})


def test_mask_hook(structures):
    torch.manual_seed(3)
    encoder = DOSForge(tiny_config()).encoder.eval()
    si = make_sample(structures["si"], "si", labels=False)
    batch = collate([si])
    plain = encoder(batch)
    none_masked = encoder(batch, atom_mask=torch.zeros(2, dtype=torch.bool), mask_embedding=torch.zeros(32))
    assert torch.equal(plain, none_masked)
    # masking atom 0 with carbon's embedded features gives exactly the embeddings of the structure with C there
    carbon = encoder.atom_embedding(encoder.element_table[6]).detach()
    masked = encoder(batch, atom_mask=torch.tensor([True, False]), mask_embedding=carbon)
    swapped = collate([dict(si, z=si["z"].copy())])
    swapped.z[0] = 6
    torch.testing.assert_close(masked, encoder(swapped))
    assert not torch.allclose(masked, plain)
    with pytest.raises(ValueError, match="mask_embedding"):
        encoder(batch, atom_mask=torch.tensor([True, False]))
