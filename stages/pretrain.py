"""DVC stage `pretrain`: CrysLDNet latent-diffusion pretraining of the encoder (seed 002; docs/pretraining.md).

    python stages/pretrain.py        # models/pretrain/ (params: pretrain, model.init, model sizes, graph, seed)

With `model.init: scratch` (the default) nothing is pretrained: the stage writes only
models/pretrain/skipped.json, a fixed file, in about a second, so the default pipeline is unchanged.
With `model.init: pretrained` it pretrains (stage 1 VAE, stage 2 latent flow matching) and writes
models/pretrain/encoder.pt, which the train / ablate / seed stages load. A run killed mid-way resumes
from its last.pt when started again with the same params, data and code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from dosforge.config import ConfigError, load_params  # noqa: E402
from dosforge.io import write_json  # noqa: E402

SKIPPED_FILE = "skipped.json"  # = dosforge.model.pretrained.SKIPPED_FILE (not imported: torch loads in seconds)

# fixed content (no timestamp, no code hash): the scratch pipeline's models/pretrain never changes
SKIPPED = {
    "model.init": "scratch",
    "pretrained": False,
    "note": "model.init is scratch, so nothing was pretrained; `dvc exp run -S model.init=pretrained` pretrains",
}


def write_skipped(out: Path) -> None:
    """Leave only skipped.json in `out` (an encoder from an earlier pretrained run must not be picked up)."""
    out.mkdir(parents=True, exist_ok=True)
    for entry in out.iterdir():
        if entry.name != SKIPPED_FILE:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    write_json(out / SKIPPED_FILE, SKIPPED)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--split", default="data/split", help="its val/test ids are never pretrained on")
    ap.add_argument("--out", default="models/pretrain")
    ap.add_argument("--no-mlflow", action="store_true", help="pretrain without an MLflow run")
    args = ap.parse_args(argv)
    out = Path(args.out)
    try:
        params = load_params(args.params)
        if (params.get("model") or {}).get("init", "scratch") == "scratch":
            write_skipped(out)
            print(f"pretrain: model.init is scratch, nothing to pretrain; wrote {out / SKIPPED_FILE}")
            return 0
        from dosforge.model.pretrained import model_init
        from dosforge.pretrain.run import run_pretraining  # here: the scratch path stays import-light

        model_init(params.get("model") or {})  # an unknown value is an error that lists the valid ones

        (out / SKIPPED_FILE).unlink(missing_ok=True)
        summary = run_pretraining(params, split_dir=Path(args.split), out_dir=out, mlflow=not args.no_mlflow)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, FloatingPointError) as exc:
        if type(exc).__name__ not in ("LatentCollapse", "FloatingPointError"):
            raise
        print(f"error: {exc}", file=sys.stderr)  # latent collapse or divergence: the message says what to try
        return 1
    print(f"pretrain: {summary['message']}; wrote {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
