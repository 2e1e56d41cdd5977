"""DVC stage `split`: data/processed/ -> data/split/split.json (id lists) and normalization.json (train only).

python stages/split.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from dosforge.config import ConfigError, known_keys, load_params  # noqa: E402
from dosforge.io import write_json  # noqa: E402
from dosforge.normalize import Normalizer  # noqa: E402
from dosforge.shards import ShardError, load_processed  # noqa: E402
from dosforge.split import make_split  # noqa: E402

SPLIT_KEYS = ("strategy", "fractions", "min_group_size", "clip_percentile")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--processed", default="data/processed")
    ap.add_argument("--out", default="data/split")
    args = ap.parse_args(argv)
    try:
        params = load_params(args.params)
        cfg = known_keys(dict(params.get("split") or {}), SPLIT_KEYS, "split")
        data = load_processed(args.processed)
        split = make_split(
            str(cfg.get("strategy", "point_group")),
            data,
            fractions=tuple(cfg.get("fractions", (0.7, 0.15, 0.15))),
            seed=int(params.get("seed", 42)),
            min_group_size=int(cfg.get("min_group_size", 7)),
        )
        normalizer = Normalizer.fit(data, split["train"], percentile=float(cfg.get("clip_percentile", 99.9)))
    except (ConfigError, ShardError, ValueError) as exc:
        print(f"split: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    write_json(out / "split.json", split)
    normalizer.to_json(out / "normalization.json")
    rep = split["report"]
    counts = f"split: train {rep['counts']['train']} / val {rep['counts']['val']} / test {rep['counts']['test']}"
    strategy = split.get("strategy", "point_group")
    if strategy == "point_group":
        print(f"{counts} over {rep['n_point_groups']} point groups")
    else:
        print(f"{counts} ({strategy}; {rep['n_dropped']} dropped: {rep['dropped'] or 'none'})")
        for group, g in (rep.get("per_group") or {}).items():
            print(
                f"  {group:13s} {g['n']:5d}  {g['role']}"
                + (f" (val {g['val']}, test {g['test']})" if g["role"] == "held_out" else "")
            )
    if rep.get("rare_groups"):
        print(f"  pooled into one stratum (fewer than {rep['min_group_size']} materials): {rep['rare_groups']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
