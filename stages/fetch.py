"""DVC stage `fetch`: raw records for `data.source` (embedded | mp | files) into data/raw/.

python stages/fetch.py            # writes data/raw/records/*.dosrec and data/raw/fetch_report.json
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from dosforge.config import ConfigError, load_params  # noqa: E402
from dosforge.sources import fetch  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/raw")
    args = ap.parse_args(argv)
    try:
        report = fetch(load_params(args.params), args.out)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"fetch: {exc}", file=sys.stderr)
        return 2
    label = " (SYNTHETIC labels)" if report["synthetic"] else ""
    print(f"fetch [{report['source']}{label}]: {report['n_records']} records, {report['n_skipped']} skipped")
    for reason, n in report["skipped_counts"].items():
        print(f"  skipped  {n:6d}  {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
