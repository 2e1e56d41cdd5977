"""DVC stage `fetch`: raw records for `data.source` (embedded | mp | files) and `data.spectrum` into data/raw/.

python stages/fetch.py            # writes data/raw/records/*.dosrec and data/raw/fetch_report.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from dosforge.config import ConfigError, load_params  # noqa: E402
from dosforge.sources import fetch  # noqa: E402

MAX_LISTED = 200  # files not read, listed one per line; the report lists all


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/raw")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        report = fetch(load_params(args.params), args.out)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"fetch: {exc}", file=sys.stderr)
        return 2
    label = " (SYNTHETIC labels)" if report["synthetic"] else ""
    kind = ", phonon DOS" if report.get("spectrum") == "phonon" else ""
    unread = report.get("unread_files", [])
    not_read = f", {len(unread)} files under data.path not read" if "unread_files" in report else ""
    counts = f"{report['n_records']} records, {report['n_skipped']} skipped{not_read}"
    # the time is printed, not written: data/raw would otherwise change on every run (and with it every DVC hash)
    print(f"fetch [{report['source']}{kind}{label}]: {counts} in {time.perf_counter() - t0:.0f} s")
    for reason, n in report["skipped_counts"].items():
        print(f"  skipped  {n:6d}  {reason}")
    for reason, n in report.get("unread_counts", {}).items():
        print(f"  not read {n:6d}  {reason}")
    for item in unread[:MAX_LISTED]:
        print(f"    {item['file']}: {item['reason']}" + (f" ({item['detail']})" if item["detail"] else ""))
    if len(unread) > MAX_LISTED:
        print(
            f"    ... and {len(unread) - MAX_LISTED} more: every one is in {args.out}/fetch_report.json (unread_files)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
