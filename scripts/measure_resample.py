"""What `preprocess.resample` does to real MP spectra: peak heights and state counts, both modes.

Runs the real pipeline (the `files` source, then preprocess without graphs) on the Materials Project
fixtures in tests/data/mp_fixtures/ once per mode (`interpolate`, `average`) and prints, per fixture:
- the raw spin-summed DOS maximum inside the window [E_F - 10, E_F + 10] eV (pymatgen's
  `get_densities()` on its own energy points) and the maximum of the gridded DOS in each mode;
- the relative error of the number of states in the window (sum(values) x dE) against pymatgen's
  own integral (trapezoid rule on the raw points), for the total DOS and the element rows, per mode;
- the raw energy spacing inside the window.
The numbers in docs/data_pipeline.md ("Resampling") come from this script.

Usage: python scripts/measure_resample.py [--json OUT]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from pymatgen.core import Element
from pymatgen.electronic_structure.dos import CompleteDos

from dosforge.grid import EnergyGrid
from dosforge.io import write_json
from dosforge.preprocess import preprocess
from dosforge.preprocess.spectra import RESAMPLE_MODES
from dosforge.shards import load_processed
from dosforge.sources import fetch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "mp_fixtures"
# processed id -> (label, file, index in a list file)
REAL = {
    "es_dos_objs-1": ("Si", "es_dos_objs.json.gz", 1),
    "GaN_dos": ("GaN", "GaN_dos.json.gz", None),
    "Fe_dos": ("Fe (bcc, spin-polarised)", "Fe_dos.json.gz", None),
    "complete_dos": ("LiFe4(PO4)4", "complete_dos.json.gz", None),
    "es_dos_objs-0": ("WO2", "es_dos_objs.json.gz", 0),
}
GRID = EnergyGrid()


def complete_dos(name: str, index: int | None) -> CompleteDos:
    with gzip.open(FIXTURES / name, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    return CompleteDos.from_dict(data if index is None else data[index]["data"])


def raw_states(
    energies: np.ndarray, densities: np.ndarray, efermi: float, lo: float = GRID.emin, hi: float = GRID.emax
) -> float:
    """Trapezoid integral of the raw points over [E_F + lo, E_F + hi], the ends linearly interpolated."""
    a, b = efermi + lo, efermi + hi
    inside = (energies > a) & (energies < b)
    x = np.concatenate([[a], energies[inside], [b]])
    return float(np.trapezoid(np.interp(x, energies, densities), x))


def processed(mode: str, workdir: Path):
    params = {
        "data": {"source": "files", "path": str(FIXTURES), "max_sites": 30},
        "grid": {"emin": GRID.emin, "emax": GRID.emax, "bins": GRID.bins},
        "preprocess": {"workers": 1, "graphs": False, "resample": mode},
    }
    raw, out = workdir / "raw", workdir / mode
    if not raw.exists():
        fetch(params, raw)
    preprocess(raw, out, params, graph_builder=None, progress=False)
    return load_processed(out)


def measure() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        data = {mode: processed(mode, Path(tmp)) for mode in RESAMPLE_MODES}
    rows = []
    for mid, (label, name, index) in REAL.items():
        dos = complete_dos(name, index)
        e, total = dos.energies, dos.get_densities()
        window = (e >= dos.efermi + GRID.emin) & (e <= dos.efermi + GRID.emax)
        row = {
            "id": mid,
            "material": label,
            "raw_spacing_ev": float(np.median(np.diff(e[window]))),
            "raw_max": float(total[window].max()),
        }
        states = raw_states(e, total, dos.efermi)
        element_states = {
            el.symbol: raw_states(e, d.get_densities(), dos.efermi) for el, d in dos.get_element_dos().items()
        }
        for mode, d in data.items():
            i = d.index(mid)
            s = d.sample(i)
            grid_dos = s["dos"].astype(float)
            row[f"{mode}_max"] = float(grid_dos.max())
            row[f"{mode}_states_rel_err"] = float(grid_dos.sum() * GRID.de / states - 1.0)
            # the halves below and above E_F (bins 0-127 and 128-255), as the tests check them
            half = GRID.fermi_index
            below, above = raw_states(e, total, dos.efermi, hi=0.0), raw_states(e, total, dos.efermi, lo=0.0)
            row[f"{mode}_halves_max_rel_err"] = float(
                max(abs(grid_dos[:half].sum() * GRID.de / below - 1), abs(grid_dos[half:].sum() * GRID.de / above - 1))
            )
            errs = []
            for z, er in zip(s["epdos_z"], s["epdos"].astype(float), strict=True):
                ref = element_states[Element.from_Z(int(z)).symbol]
                errs.append(abs(er.sum() * GRID.de - ref) / max(ref, 1e-12))
            row[f"{mode}_element_states_max_rel_err"] = float(max(errs))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    rows = measure()
    head = (
        f"{'material':26s} {'raw dE':>7s} {'raw max':>8s} {'interp max':>10s} {'avg max':>8s} "
        f"{'interp/raw':>10s} {'avg/raw':>8s} {'avg/interp':>10s} {'states interp':>13s} {'states avg':>10s} "
        f"{'elem interp':>11s} {'elem avg':>9s} {'halves interp':>13s} {'halves avg':>10s}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['material']:26s} {r['raw_spacing_ev']:7.3f} {r['raw_max']:8.2f} {r['interpolate_max']:10.2f} "
            f"{r['average_max']:8.2f} {r['interpolate_max'] / r['raw_max']:10.3f} "
            f"{r['average_max'] / r['raw_max']:8.3f} "
            f"{r['average_max'] / r['interpolate_max']:10.3f} {r['interpolate_states_rel_err']:+13.2e} "
            f"{r['average_states_rel_err']:+10.2e} {r['interpolate_element_states_max_rel_err']:11.2e} "
            f"{r['average_element_states_max_rel_err']:9.2e} {r['interpolate_halves_max_rel_err']:13.2e} "
            f"{r['average_halves_max_rel_err']:10.2e}"
        )
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
