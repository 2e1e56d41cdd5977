"""stages/pretrain.py with model.init=scratch: a fixed skipped.json only, old outputs removed, fast."""

import importlib.util
import json
from pathlib import Path

import yaml

from dosforge.model.pretrained import SKIPPED_FILE

ROOT = Path(__file__).resolve().parents[2]


def _stage():
    spec = importlib.util.spec_from_file_location("pretrain_stage", ROOT / "stages" / "pretrain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scratch_writes_only_a_fixed_skipped_file(tmp_path):
    stage = _stage()
    assert stage.SKIPPED_FILE == SKIPPED_FILE
    out = tmp_path / "pretrain"
    (out / "old").mkdir(parents=True)
    (out / "encoder.pt").write_bytes(b"stale")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"model": {"init": "scratch"}}))
    assert stage.main(["--params", str(params), "--out", str(out)]) == 0
    first = (out / SKIPPED_FILE).read_bytes()
    assert [p.name for p in out.iterdir()] == [SKIPPED_FILE] and json.loads(first)["pretrained"] is False
    assert stage.main(["--params", str(params), "--out", str(out)]) == 0
    assert (out / SKIPPED_FILE).read_bytes() == first  # byte-identical: DVC sees the same output


def test_unknown_init_is_an_error(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"model": {"init": "pretrain"}}))
    assert _stage().main(["--params", str(params), "--out", str(tmp_path / "out")]) == 2
    assert "scratch, pretrained" in capsys.readouterr().err
