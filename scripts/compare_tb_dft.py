"""Compare the synthetic tight-binding labels with real Materials Project DFT DOS fixtures.

For each fixture: DFT vs TB band gap, metal/insulator class, Wasserstein distance between the two
DOS on the project grid (256 bins over E_F -10..+10 eV, dosforge.metrics.wasserstein_bins), the
same distance to the DFT DOS of the *other* fixtures (a baseline: what "unrelated" looks like),
and the dominant element in the 2 eV below E_F. Fixtures are read from tests/data/mp_fixtures/
when present there, else from /work/shared/data/mp-dos-fixtures/ (missing ones are listed, not fatal).
Usage: python scripts/compare_tb_dft.py [--json OUT]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np
from pymatgen.electronic_structure.dos import CompleteDos

from dosforge.grid import EnergyGrid
from dosforge.io import write_json
from dosforge.metrics import wasserstein_bins
from dosforge.preprocess.spectra import bin_average
from dosforge.tb import TBParams, label_structure

ROOT = Path(__file__).resolve().parents[1]
DIRS = [ROOT / "tests/data/mp_fixtures", Path("/work/shared/data/mp-dos-fixtures")]
# (label, file name(s), index into a list-valued file or None)
FIXTURES = [
    ("Si (es_dos_objs[1], mp task 1686587)", ["es_dos_objs.json.gz"], 1),
    ("Si (matminer si_dos)", ["si_dos.json", "si_dos.json.gz"], None),
    ("Si (crystal-toolkit)", ["Si_dos_ct.json", "Si_dos_ct.json.gz"], None),
    ("GaN wurtzite", ["GaN_dos.json.gz", "GaN_dos.json"], None),
    ("Fe bcc", ["Fe_dos.json.gz"], None),
    ("WO2 R-3m (es_dos_objs[0])", ["es_dos_objs.json.gz"], 0),
    ("LiFe4(PO4)4", ["complete_dos.json.gz", "complete_dos.json"], None),
    ("Ag3Pd 64-site cell (not MP)", ["pdag3_complete_dos.json.gz"], None),
]
BELOW_EF = 2.0  # eV window for the dominant element


def _find(names: list[str]) -> Path | None:
    for d in DIRS:
        for n in names:
            if (d / n).exists():
                return d / n
    return None


def load_dos(path: Path, index: int | None) -> CompleteDos:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        doc = json.load(fh)
    if index is not None:
        doc = doc[index]
    doc = doc.get("data", doc)
    return CompleteDos.from_dict(doc)


def _spin_total(densities: dict) -> np.ndarray:
    return sum(np.asarray(v, dtype=float) for v in densities.values())


def dft_spectra(dos: CompleteDos, grid: EnergyGrid) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    e = np.asarray(dos.energies, dtype=float)
    total = bin_average(e, _spin_total(dos.densities), dos.efermi, grid)
    els = {
        el.symbol: bin_average(e, _spin_total(d.densities), dos.efermi, grid) for el, d in dos.get_element_dos().items()
    }
    return total, els


def dominant(elements: dict[str, np.ndarray], grid: EnergyGrid) -> str:
    below = (grid.centers < 0) & (grid.centers > -BELOW_EF)
    return max(elements, key=lambda el: elements[el][below].sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    grid = EnergyGrid()
    params = TBParams()
    rows, dft_totals, tb_totals, missing = [], [], [], []
    for label, names, index in FIXTURES:
        path = _find(names)
        if path is None:
            missing.append(label)
            continue
        dos = load_dos(path, index)
        dft_total, dft_el = dft_spectra(dos, grid)
        dft_gap = float(dos.get_gap())
        lab = label_structure(dos.structure, params)
        tb_total = bin_average(lab.energies, lab.total, lab.efermi, grid)
        tb_el = {el: bin_average(lab.energies, v, lab.efermi, grid) for el, v in lab.elements.items()}
        rows.append(
            {
                "material": label,
                "file": path.name,
                "n_sites": len(dos.structure),
                "dft_gap_ev": round(dft_gap, 3),
                "tb_gap_ev": round(lab.band_gap, 3),
                "dft_metal": dft_gap == 0,
                "tb_metal": lab.is_metal,
                "class_agrees": (dft_gap == 0) == lab.is_metal,
                "wd_bins": float(wasserstein_bins(tb_total, dft_total)),
                "dft_dominant_below_ef": dominant(dft_el, grid),
                "tb_dominant_below_ef": dominant(tb_el, grid),
            }
        )
        dft_totals.append(dft_total)
        tb_totals.append(tb_total)
    for i, row in enumerate(rows):  # baseline: the TB DOS against every other fixture's DFT DOS
        others = [float(wasserstein_bins(tb_totals[i], d)) for j, d in enumerate(dft_totals) if j != i]
        row["wd_bins_to_other_materials_median"] = float(np.median(others)) if others else float("nan")
        row["dominant_agrees"] = row["dft_dominant_below_ef"] == row["tb_dominant_below_ef"]

    print(
        f"{'material':38s} {'gap DFT':>7s} {'gap TB':>7s} {'class':>6s} {'WD bins':>8s} {'WD other':>8s}",
        " dominant DFT/TB",
    )
    for r in rows:
        print(
            f"{r['material']:38s} {r['dft_gap_ev']:7.3f} {r['tb_gap_ev']:7.3f} "
            f"{'ok' if r['class_agrees'] else 'WRONG':>6s} "
            f"{r['wd_bins']:8.1f} {r['wd_bins_to_other_materials_median']:8.1f}  "
            f"{r['dft_dominant_below_ef']}/{r['tb_dominant_below_ef']}"
        )
    n = len(rows)
    print(
        f"\nclass agrees {sum(r['class_agrees'] for r in rows)}/{n}; dominant element agrees "
        f"{sum(r['dominant_agrees'] for r in rows)}/{n}; median WD {np.median([r['wd_bins'] for r in rows]):.1f} bins "
        f"(to other materials: {np.median([r['wd_bins_to_other_materials_median'] for r in rows]):.1f})"
    )
    if missing:
        print(f"fixtures not found (skipped): {', '.join(missing)}", file=sys.stderr)
    if args.json:
        write_json(args.json, {"tb_params": params.as_dict(), "rows": rows, "missing": missing})


if __name__ == "__main__":
    main()
