"""An EPDOS element group's cross-attention sees only its own element's atoms (appendix A.1)."""

import torch
from model_testkit import tiny_config

from dosforge.model import DOSForge, collate
from dosforge.model.decoder import dense_keys


def _first_block_outputs(decoder, h, batch):
    keys = dense_keys(decoder.ln_h_epdos(h), batch.group_of_atom, int(batch.group_z.shape[0]))
    z0 = decoder.tokens.unsqueeze(0).expand(int(batch.group_z.shape[0]), -1, -1)
    return decoder.epdos_l1[0](z0, *keys)


def test_group_output_ignores_other_elements(samples):
    model = DOSForge(tiny_config(tasks=("dos", "epdos"), coupling="cross")).eval()
    batch = collate(samples[:3])  # TiO2, NaCl, GaAs: 6 element groups
    with torch.no_grad():
        h = model.encoder(batch)  # encoder outputs held fixed from here on
        ref = _first_block_outputs(model.decoder, h, batch)
        oxygen = int(torch.nonzero((batch.group_z == 8) & (batch.group_graph == 0))[0])
        titanium = int(torch.nonzero((batch.group_z == 22) & (batch.group_graph == 0))[0])
        h2 = h.clone()
        h2[batch.group_of_atom == titanium] += torch.randn_like(h2[batch.group_of_atom == titanium])  # change Ti atoms
        out = _first_block_outputs(model.decoder, h2, batch)
    others = [g for g in range(len(batch.group_z)) if g != titanium]
    assert torch.allclose(out[others], ref[others], atol=1e-6)  # O of TiO2 and every other material unchanged
    assert (out[titanium] - ref[titanium]).abs().max() > 1e-3  # the Ti group itself does see the change
    assert oxygen in others


def test_parallel_epdos_rows_independent_of_other_elements(samples):
    """With no exchange, a whole EPDOS prediction depends only on its own element's atoms."""
    model = DOSForge(tiny_config(tasks=("epdos",))).eval()
    batch = collate(samples[:1])  # TiO2: groups O (0), Ti (1)
    with torch.no_grad():
        h = model.encoder(batch)
        ref = model.decoder(h, batch)["epdos"]
        h2 = h.clone()
        h2[batch.group_of_atom == 1] *= -3.0
        out = model.decoder(h2, batch)["epdos"]
    assert torch.allclose(out[0], ref[0], atol=1e-6)
    assert not torch.allclose(out[1], ref[1], atol=1e-3)
