"""DVC stage `preprocess`: data/raw/ -> data/processed/ (HDF5 shards, manifest.json, rejects.csv).

python stages/preprocess.py       # prints materials kept and rejects per reason
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from dosforge.config import ConfigError, load_params  # noqa: E402
from dosforge.preprocess import preprocess  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--raw", default="data/raw")
    ap.add_argument("--out", default="data/processed")
    args = ap.parse_args(argv)
    try:
        run: dict = {}
        manifest = preprocess(args.raw, args.out, load_params(args.params), run_report=run)
    except (ConfigError, ImportError, FileNotFoundError, ValueError) as exc:
        print(f"preprocess: {exc}", file=sys.stderr)
        return 2
    label = " (SYNTHETIC labels)" if manifest["synthetic"] else ""
    print(
        f"preprocess [{manifest['source']}{label}, resample={manifest['resample']}]: "
        f"{manifest['n_materials']} materials kept of {manifest['n_records']} records; "
        f"{manifest['n_rejected']} rejected (see {args.out}/rejects.csv)"
    )
    print(
        f"  work shards: {len(run['computed'])} computed, {len(run['reused'])} reused of {run['chunks']} "
        f"({run['executor']} executor; {run['work_dir']})"
    )
    for reason, n in manifest["rejected_by_reason"].items():
        print(f"  rejected {n:6d}  {reason}")
    if manifest["symmetry"]["n_fallbacks"]:
        print(f"  point group fell back to '1' for {manifest['symmetry']['n_fallbacks']} structures (spglib failed)")
    if manifest["n_materials"] == 0:
        print("preprocess: no material survived; nothing to train on", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
