"""Label yield of the embedded phonon source: do other `phonon_labels` settings rescue the structures a phonon fetch
excluded for imaginary modes? (docs/phonons.md "Label yield"; a diagnostic, not part of the pipeline)

    python benchmarks/phonon_label_yield.py data/raw/fetch_report.json --limit 14
    python benchmarks/phonon_label_yield.py data/raw/fetch_report.json --part 0 --parts 2 --only both

Reads the excluded ids from a phonon fetch report (`dvc exp run -S data.spectrum=phonon` writes it), re-labels each
with every setting below (one process, one thread) and prints one JSON line per structure: per setting the lowest
mode (cm^-1; >= phonon_labels.imaginary_threshold_cm = rescued), the supercell and the seconds taken. Memory: the
`min10A` settings can build large supercells (one structure exceeded 17 GB RSS).
"""

from __future__ import annotations

import argparse
import json
import time

from dosforge.phonon.label import LabelParams, label_phonons
from dosforge.sources.embedded import entry_structure, load_bundle

SETTINGS = {
    "base": {},
    "min10A": {"supercell_min_length": 10.0},
    "fmax005": {"fmax": 0.005, "relax_steps": 1000},
    "both": {"supercell_min_length": 10.0, "fmax": 0.005, "relax_steps": 1000},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", help="data/raw/fetch_report.json of a phonon fetch")
    ap.add_argument("--limit", type=int, default=0, help="first N excluded structures (0 = all)")
    ap.add_argument("--part", type=int, default=0, help="this process takes every `parts`-th id from `part`")
    ap.add_argument("--parts", type=int, default=1)
    ap.add_argument("--only", choices=list(SETTINGS), action="append", help="settings to run (default: all)")
    args = ap.parse_args()
    skipped = json.load(open(args.report))["skipped"]
    ids = [s["id"] for s in skipped if s["reason"].startswith("imaginary modes")]
    ids = (ids[: args.limit] if args.limit else ids)[args.part :: args.parts]
    bundle = {e["id"]: e for e in load_bundle()}
    for mid in ids:
        row = {"id": mid, "sites": bundle[mid]["n_sites"]}
        for name in args.only or list(SETTINGS):
            t0 = time.time()
            try:
                label = label_phonons(entry_structure(bundle[mid]), LabelParams(**SETTINGS[name]))
                row[name] = [round(label.min_frequency_cm, 1), label.supercell, round(time.time() - t0, 1)]
            except Exception as exc:  # noqa: BLE001 - a diagnostic: report and go on
                row[name] = f"error: {type(exc).__name__}: {exc}"
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
