"""The pretraining corpus: held-out exclusion (by id and by structure), files, the mp source offline, rejects."""

import importlib.util
from pathlib import Path

import pytest
from pretrain_testkit import small_structures
from pymatgen.core import Lattice, Structure

import dosforge.pretrain.corpus as corpus_module
from dosforge.config import ConfigError
from dosforge.pretrain.config import resolve_pretrain_config
from dosforge.pretrain.corpus import build_corpus, excluded_ids

PARAMS = {"graph": {"cutoff": 4.0, "max_neighbors": 12}}
SPLIT = {"train": ["s2"], "val": ["s0"], "test": ["s1"]}


def _cfg(**data):
    return resolve_pretrain_config({"data": data})["data"]


@pytest.fixture()
def bundle(monkeypatch):
    structures = [(f"s{i}", s) for i, s in enumerate(small_structures())]
    structures.append(("noble", Structure(Lattice.cubic(5.3), ["Ar"], [[0, 0, 0]])))
    monkeypatch.setattr(corpus_module, "bundle_structures", lambda: structures)
    return structures


def test_exclusion_rules():
    assert excluded_ids(SPLIT, "heldout") == {"s0", "s1"}
    assert excluded_ids(SPLIT, "labelled") == {"s0", "s1", "s2"}


def test_bundle_counts_rejects_and_train_val(bundle):
    out = build_corpus(PARAMS, _cfg(exclude="labelled"), SPLIT, seed=0, progress=False)
    ids = {it["id"] for it in out["train"] + out["val"]}
    assert not ids & {"s0", "s1", "s2"} and "noble" not in ids
    assert out["report"]["rejected"] == {"noble gas": 1}
    assert out["report"]["n_structures"] == len(bundle) - 4 == out["report"]["n_train"] + out["report"]["n_val"]
    again = build_corpus(PARAMS, _cfg(exclude="labelled"), SPLIT, seed=0, progress=False)
    assert [it["id"] for it in again["val"]] == [it["id"] for it in out["val"]]  # seeded


@pytest.mark.filterwarnings("ignore:.*CIF")
def test_files_source_rejects_held_out_duplicates_and_bad_files(bundle, tmp_path):
    held_out = bundle[0][1]  # s0 is in the val split
    held_out.to(filename=str(tmp_path / "heldout.cif"))
    bundle[5][1].to(filename=str(tmp_path / "POSCAR_dup"), fmt="poscar")  # already in the corpus (bundle s5)
    Structure(Lattice.cubic(4.0), ["Cs", "Br"], [[0, 0, 0], [0.5] * 3]).to(
        filename=str(tmp_path / "new.vasp"), fmt="poscar"
    )
    (tmp_path / "broken.cif").write_text("data_broken\n_cell_length_a nonsense\n")
    out = build_corpus(PARAMS, _cfg(sources=["bundle", "files"], path=str(tmp_path)), SPLIT, seed=0, progress=False)
    reasons = {r["id"]: r["reason"] for r in out["rejects"]}
    assert reasons["file:heldout.cif"].startswith("matches an excluded labelled structure")
    assert reasons["file:POSCAR_dup"] == "duplicate of a structure already in the corpus"
    assert reasons["file:broken.cif"] == "unreadable file"
    assert out["report"]["by_source"]["files"] == 1


def _fake_mp():
    path = Path(__file__).resolve().parents[1] / "sources" / "mp_fake.py"
    spec = importlib.util.spec_from_file_location("mp_fake_for_pretrain", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FakeMPRester


def test_mp_source_from_recorded_responses(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "test-key")
    fake = _fake_mp()
    clients = []

    def factory(key):
        clients.append(fake(key))
        return clients[-1]

    params = dict(PARAMS, mp={"cache_dir": str(tmp_path / "cache")})
    out = build_corpus(params, _cfg(sources=["mp"]), SPLIT, seed=0, progress=False, client_factory=factory)
    ids = sorted(it["id"] for it in out["train"] + out["val"])
    assert ids == ["mp:mp-13", "mp:mp-149", "mp:mp-804"]  # never the GNoME entry; no DOS downloaded
    assert clients[0].dos_calls == [] and clients[0].search_calls[0]["num_sites"] == (1, 20)


def test_mp_needs_a_key(bundle, monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="MP_API_KEY"):
        build_corpus(PARAMS, _cfg(sources=["mp"]), SPLIT, seed=0, progress=False)


def test_config_errors_name_the_valid_values():
    with pytest.raises(ConfigError, match="bundle, files, mp"):
        resolve_pretrain_config({"data": {"sources": ["aflow"]}})
    with pytest.raises(ConfigError, match="pretrain.data.path"):
        resolve_pretrain_config({"data": {"sources": ["files"]}})
    with pytest.raises(ConfigError, match="unknown key"):
        resolve_pretrain_config({"vae": {"epoch": 3}})
    paper = resolve_pretrain_config({"preset": "paper"})
    assert paper["ldm"]["dit"] == {"d_model": 768, "heads": 12, "layers": 12, "mlp_ratio": 4}
    assert (paper["vae"]["epochs"], paper["vae"]["batch_size"], paper["ldm"]["lr"]) == (50, 256, 1e-4)
