"""Each coupling builds the module graph of Figure 2 / appendix A.2, and only the needed parts exist."""

import pytest
import torch
from model_testkit import tiny_config

from dosforge.model import DOSForge, collate


def _crosses(blocks):
    return [b.has_cross for b in blocks]


def _out(model, samples):
    with torch.no_grad():
        return model.eval()(collate(samples[:3]))


def test_parallel_has_no_exchange(samples):
    model = DOSForge(tiny_config(tasks=("dos", "epdos"), coupling="parallel"))
    dec = model.decoder
    assert not dec.has_exchange
    assert not hasattr(dec, "dos_l2") and not hasattr(dec, "epdos_l2")
    assert _crosses(dec.dos_l1) == [True, True] and _crosses(dec.epdos_l1) == [True, True]
    assert set(_out(model, samples)) == {"dos", "epdos"}  # no mid predictions, no mid losses


def test_epdos_to_dos(samples):
    dec = DOSForge(tiny_config(tasks=("dos", "epdos"), coupling="epdos_to_dos")).decoder
    assert not hasattr(dec, "dos_l1") and not hasattr(dec, "ln_h_dos")  # DOS never reads atoms itself
    assert _crosses(dec.epdos_l1) == [True, True] and not hasattr(dec, "epdos_l2")
    assert _crosses(dec.dos_l2) == [False, False]  # self-attention only after the scatter-sum


def test_dos_to_epdos(samples):
    dec = DOSForge(tiny_config(tasks=("dos", "epdos"), coupling="dos_to_epdos")).decoder
    assert _crosses(dec.dos_l1) == [True, True] and not hasattr(dec, "dos_l2")
    assert not hasattr(dec, "epdos_l1") and _crosses(dec.epdos_l2) == [True, True]


def test_cross_has_both_stages_and_mid_outputs(samples):
    model = DOSForge(tiny_config(tasks=("dos", "epdos"), coupling="cross"))
    dec = model.decoder
    assert _crosses(dec.dos_l1) == [True, True] and _crosses(dec.dos_l2) == [False, False]
    assert _crosses(dec.epdos_l1) == [True, True] and _crosses(dec.epdos_l2) == [True, True]
    assert dec.dos_head is not dec.epdos_head  # one unpatchify head per branch, shared by mid and final
    out = _out(model, samples)
    assert set(out) == {"dos", "dos_mid", "epdos", "epdos_mid"}
    assert out["dos"].shape == (3, 256) and out["epdos"].shape == (6, 256)


@pytest.mark.parametrize(
    ("coupling", "dos_sees_epdos", "epdos_sees_dos"),
    [("parallel", False, False), ("epdos_to_dos", True, False), ("dos_to_epdos", False, True), ("cross", True, True)],
)
def test_information_flows_only_along_the_coupling(samples, coupling, dos_sees_epdos, epdos_sees_dos):
    """Perturb one branch's first-stage weights and see which final predictions move."""
    model = DOSForge(tiny_config(tasks=("dos", "epdos"), coupling=coupling)).eval()
    ref = _out(model, samples)
    dec = model.decoder
    for branch, other, expect in (("epdos", "dos", dos_sees_epdos), ("dos", "epdos", epdos_sees_dos)):
        blocks = getattr(dec, f"{branch}_l1", None)
        if blocks is None:
            continue
        saved = [p.detach().clone() for p in blocks.parameters()]
        with torch.no_grad():
            for p in blocks.parameters():
                p.add_(torch.randn_like(p) * 0.5)
        moved = (_out(model, samples)[other] - ref[other]).abs().max() > 1e-4
        with torch.no_grad():
            for p, s in zip(blocks.parameters(), saved, strict=True):
                p.copy_(s)
        assert bool(moved) == expect, f"{coupling}: {other} {'should' if expect else 'should not'} see {branch}"


def test_single_task_models_build_only_their_parts():
    dos = DOSForge(tiny_config(tasks=("dos",)))
    assert dos.decoder.has_dos and not dos.decoder.has_epdos and not hasattr(dos.decoder, "epdos_head")
    assert dos.fermi_head is None and dos.gap_head is None
    fermi = DOSForge(tiny_config(tasks=("fermi",)))
    assert fermi.decoder is None and fermi.gap_head is None and fermi.fermi_head is not None
    gap = DOSForge(tiny_config(tasks=("gap",), gap_head="pool"))
    assert gap.decoder is None and gap.fermi_head is None
    assert sum(p.numel() for p in gap.parameters()) < sum(p.numel() for p in dos.parameters())
