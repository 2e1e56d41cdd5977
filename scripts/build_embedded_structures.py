"""Regenerate the embedded structure bundle: src/dosforge/data/embedded/structures.json.gz.

Inputs: /work/shared/data/structures/matbench_dielectric.json.gz (4,764 real Materials Project
structures, matbench dielectric set, via the crystal-toolkit examples; CC BY 4.0 data, BSD code
license) and the metal prototypes defined below (built with pymatgen; lattice constants cited).
Usage: python scripts/build_embedded_structures.py [--matbench PATH] [--max-sites 40] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import spglib
from pymatgen.core import Composition, Lattice, Structure
from tqdm import tqdm

from dosforge import NOBLE_GASES
from dosforge.io import atomic_path
from dosforge.tb.orbitals import open_shell_tm

ROOT = Path(__file__).resolve().parents[1]
PROTO_REF_ELEMENTS = "C. Kittel, Introduction to Solid State Physics, 8th ed., ch. 1 Table 3 (room-temperature values)"
SHARED = Path("/work/shared/data/structures")


def symmetry(structure: Structure) -> tuple[int, str]:
    """Space group number and point group (spglib, symprec 0.1 as MP uses)."""
    cell = (structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers)
    ds = spglib.get_symmetry_dataset(cell, symprec=0.1)
    return int(ds.number), str(ds.pointgroup)


def oxidation_states(structure: Structure, metal: bool) -> dict[str, float] | None:
    """Average oxidation state per element: 0 in a metal, else pymatgen's most likely charge-balanced guess.

    None when no guess is found or the reduced formula is too large to search quickly (> 16 atoms).
    """
    comp = structure.composition
    if metal:
        return {el.symbol: 0.0 for el in comp}
    reduced = comp.reduced_composition
    if reduced.num_atoms > 16:
        return None
    guesses = reduced.oxi_state_guesses(max_sites=-1)
    return {k: round(float(v), 3) for k, v in guesses[0].items()} if guesses else None


def open_shell(structure: Structure, oxi: dict[str, float] | None) -> bool:
    """Any transition-metal ion with an open d shell (see dosforge.tb.orbitals.open_shell_tm).

    Without an oxidation-state guess, a cell with an element of groups 4-10 counts as open-shell
    (conservative: the flag errs towards marking a label as doubtful).
    """
    els = [el for el in structure.composition]
    if oxi is None:
        return any(el.is_transition_metal and 4 <= el.group <= 10 for el in els)
    return any(open_shell_tm(el.symbol, oxi[el.symbol]) for el in els)


def entry(record_id: str, structure: Structure, origin: str, reference: str, extra: dict | None = None) -> dict:
    spg, pg = symmetry(structure)
    oxi = oxidation_states(structure, (extra or {}).get("dft_class") == "metal")
    return {
        "id": record_id,
        "origin": origin,
        "formula": structure.composition.reduced_formula,
        "n_sites": len(structure),
        "spacegroup": spg,
        "point_group": pg,
        "lattice": [[round(x, 8) for x in row] for row in structure.lattice.matrix.tolist()],
        "species": [s.specie.symbol for s in structure],
        "frac_coords": [[round(x, 8) for x in row] for row in structure.frac_coords.tolist()],
        "reference": reference,
        "oxidation_states": oxi,
        "open_shell_tm": open_shell(structure, oxi),
        **(extra or {}),
    }


# Elemental reference structures: Strukturbericht type -> {element: a} or {element: (a, c)} in Angstrom.
A1 = {
    "Al": 4.05,
    "Ca": 5.58,
    "Ni": 3.52,
    "Cu": 3.61,
    "Sr": 6.08,
    "Rh": 3.80,
    "Pd": 3.89,
    "Ag": 4.09,
    "Ir": 3.84,
    "Pt": 3.92,
    "Au": 4.08,
    "Pb": 4.95,
    "Ce": 5.16,
    "Yb": 5.48,
    "Th": 5.08,
}
A2 = {
    "Li": 3.491,
    "Na": 4.225,
    "K": 5.225,
    "Rb": 5.585,
    "Cs": 6.045,
    "Ba": 5.02,
    "V": 3.03,
    "Cr": 2.88,
    "Fe": 2.87,
    "Nb": 3.30,
    "Mo": 3.15,
    "Ta": 3.30,
    "W": 3.16,
    "Eu": 4.58,
}
A3 = {
    "Be": (2.29, 3.58),
    "Mg": (3.21, 5.21),
    "Sc": (3.31, 5.27),
    "Ti": (2.95, 4.68),
    "Co": (2.51, 4.07),
    "Zn": (2.66, 4.95),
    "Y": (3.65, 5.73),
    "Zr": (3.23, 5.15),
    "Tc": (2.74, 4.40),
    "Ru": (2.71, 4.28),
    "Cd": (2.98, 5.62),
    "Hf": (3.19, 5.05),
    "Re": (2.76, 4.46),
    "Os": (2.74, 4.32),
    "Tl": (3.46, 5.52),
    "Gd": (3.64, 5.78),
    "Tb": (3.60, 5.70),
    "Dy": (3.59, 5.65),
    "Ho": (3.58, 5.62),
    "Er": (3.56, 5.59),
    "Tm": (3.54, 5.56),
    "Lu": (3.50, 5.55),
}
A4 = {"C": 3.567, "Si": 5.430, "Ge": 5.658, "Sn": 6.49}  # diamond (alpha-Sn)
A7 = {"As": (3.760, 10.548, 0.2271), "Sb": (4.307, 11.273, 0.2336), "Bi": (4.546, 11.862, 0.2339)}  # hex R-3m, z
# atomic volumes (A^3/atom) of elements used below whose reference structure is not built here
EXTRA_VOLUME = {
    "Ga": 19.6,
    "In": 26.1,
    "Sn": 27.0,
    "Mn": 12.2,
    "Si": 20.0,
    "Ge": 22.6,
    "Sb": 30.2,
    "Hg": 23.4,
    "La": 37.4,
}

B2 = [
    "NiAl",
    "CoAl",
    "FeAl",
    "CuZn",
    "AgZn",
    "AuZn",
    "AgMg",
    "AuCd",
    "CuPd",
    "FeTi",
    "CoTi",
    "NiTi",
    "RuAl",
    "PdIn",
    "CuBe",
    "NiGa",
    "CoGa",
    "FeCo",
    "FeRh",
    "LiAg",
    "LiHg",
    "AuMg",
    "IrAl",
    "RhAl",
    "YCu",
    "YZn",
    "MgTl",
    "RuTi",
    "CoZr",
    "ScCu",
]
L12 = [
    "Cu3Au",
    "Ni3Al",
    "Ni3Ga",
    "Ni3Si",
    "Ni3Fe",
    "Ni3Mn",
    "Pt3Fe",
    "Pd3Fe",
    "Al3Sc",
    "Pt3Sn",
    "Pd3Sn",
    "Co3Ti",
    "Ni3Ge",
    "Pt3Ti",
    "Ir3Ti",
    "Cu3Pt",
    "Pt3Al",
    "Ni3Pt",
    "Pt3Mn",
    "Ir3Nb",
]
L10 = {
    "CuAu": 0.93,
    "FePt": 0.96,
    "FePd": 0.97,
    "CoPt": 0.97,
    "NiPt": 0.94,
    "TiAl": 1.02,
    "MnAl": 0.91,
    "MnPt": 0.92,
    "MnNi": 0.94,
    "FeNi": 1.0,
}  # c/a of the fcc-like cell (approximate literature values)
L21 = [
    "Cu2MnAl",
    "Ni2MnGa",
    "Co2MnSi",
    "Ni2MnIn",
    "Co2TiAl",
    "Fe2VAl",
    "Co2MnGe",
    "Pd2MnSn",
    "Cu2MnIn",
    "Ni2TiAl",
    "Co2ZrSn",
    "Fe2TiSn",
    "Co2FeSi",
    "Co2CrAl",
    "Ni2MnSn",
    "Cu2MnSn",
    "Co2VGa",
    "Co2NbSn",
    "Ru2TiGe",
    "Fe2VGa",
]
C15 = [
    "MgCu2",
    "CaAl2",
    "ZrV2",
    "ZrCr2",
    "TiCr2",
    "HfV2",
    "ZrW2",
    "ZrFe2",
    "ZrCo2",
    "YAl2",
    "LaAl2",
    "CeAl2",
    "GdAl2",
    "NbCr2",
    "HfCr2",
    "TiCo2",
    "YFe2",
    "CeNi2",
    "ZrMo2",
    "HfMo2",
]
A15 = ["Nb3Sn", "V3Si", "Nb3Al", "Nb3Ge", "V3Ga", "Cr3Si", "Mo3Si", "Nb3Ga", "V3Ge"]
D03 = ["Fe3Al", "Fe3Si", "Fe3Ga", "Cu3Al", "Mn3Si", "Ni3Sb"]
# measured lattice constants (Angstrom): AlB2-type diborides (a, c) and metallic rock-salt carbides/nitrides
C32 = {
    "MgB2": (3.086, 3.524),
    "TiB2": (3.028, 3.228),
    "ZrB2": (3.169, 3.530),
    "HfB2": (3.142, 3.476),
    "AlB2": (3.009, 3.262),
    "CrB2": (2.969, 3.066),
    "NbB2": (3.110, 3.267),
    "TaB2": (3.098, 3.227),
    "VB2": (2.998, 3.057),
    "ScB2": (3.148, 3.516),
}
B1 = {"TiC": 4.328, "TiN": 4.24, "ZrC": 4.698, "ZrN": 4.578, "HfC": 4.638, "HfN": 4.52, "VC": 4.16, "VN": 4.14,
      "NbC": 4.47, "NbN": 4.39, "TaC": 4.455, "CrN": 4.15}  # fmt: skip
REF_COMPOUNDS = "handbook values (P. Villars, Pearson's Handbook of Crystallographic Data), rounded"
REF_ZEN = "lattice constant from Zen's law (mean of the elemental atomic volumes of this table)"
REF_BETA_MN = "beta-Mn, P4_132, a 6.315, 8c x 0.0636, 12d y 0.2022 (Shoemaker et al., Acta Cryst. B34, 3573 (1978))"


@dataclass
class Prototype:
    id: str
    structure: Structure
    reference: str
    expected: str = "metal"  # what the reference calculation/experiment says


def _fcc(a: float, species: list[str], cart_in_a: list[list[float]]) -> Structure:
    """Primitive fcc cell with atoms at Cartesian positions given in units of the cubic a.

    Built directly (not with Structure.from_spacegroup, which costs ~1 s per call here).
    """
    lat = Lattice(0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]]))
    return Structure(lat, species, np.asarray(cart_in_a) * a, coords_are_cartesian=True, to_unit_cell=True)


def _sc(a: float, species: list[str], frac: list[list[float]]) -> Structure:
    return Structure(Lattice.cubic(a), species, frac)


def _element_structure(kind: str, el: str, a: float, c: float | None = None) -> Structure:
    if kind == "A1":
        return _fcc(a, [el], [[0, 0, 0]])
    if kind == "A2":
        return Structure(Lattice(0.5 * a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])), [el], [[0, 0, 0]])
    if kind == "A3":
        return Structure(Lattice.hexagonal(a, c), [el, el], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])
    if kind == "A4":
        return _fcc(a, [el, el], [[0, 0, 0], [0.25, 0.25, 0.25]])
    raise ValueError(kind)


def _atomic_volume(el: str) -> float:
    for kind, table in (("A1", A1), ("A2", A2), ("A3", A3)):
        if el in table:
            v = table[el]
            s = _element_structure(kind, el, *(v if isinstance(v, tuple) else (v,)))
            return s.volume / len(s)
    return EXTRA_VOLUME[el]


def _zen(comp: str) -> float:
    """Cell volume per formula unit from Zen's law."""
    return sum(_atomic_volume(el.symbol) * n for el, n in Composition(comp).items())


def _elements(comp: str) -> list[str]:
    return [el.symbol for el in Composition(comp)]  # in formula order


def metal_prototypes() -> list[Prototype]:
    out = []
    ground = [("A1", A1), ("A2", A2), ("A3", A3)]
    for kind, table in ground:
        for el, v in table.items():
            vals = v if isinstance(v, tuple) else (v,)
            out.append(Prototype(f"proto-{kind}-{el}", _element_structure(kind, el, *vals), PROTO_REF_ELEMENTS))
            vol = _atomic_volume(el)
            for other, _ in ground:  # hypothetical polymorphs at the same atomic volume, as MP lists them
                if other == kind:
                    continue
                a = {"A1": (4 * vol) ** (1 / 3), "A2": (2 * vol) ** (1 / 3)}.get(other)
                args = (a,) if a else ((2 * vol / (1.633 * 3**0.5 / 2)) ** (1 / 3),)
                if other == "A3":
                    args = (args[0], 1.633 * args[0])
                ref = f"hypothetical {other} polymorph at the atomic volume of {kind} {el} ({PROTO_REF_ELEMENTS})"
                out.append(Prototype(f"proto-{other}-{el}", _element_structure(other, el, *args), ref))
    for el, a in A4.items():
        out.append(Prototype(f"proto-A4-{el}", _element_structure("A4", el, a), PROTO_REF_ELEMENTS, "insulator"))
    beta_sn = [[0, 0, 0], [0.5, 0.5, 0.5], [0, 0.5, 0.25], [0.5, 0, 0.75]]  # I4_1/amd 4a, conventional cell
    out.append(
        Prototype("proto-A5-Sn", Structure(Lattice.tetragonal(5.83, 3.18), ["Sn"] * 4, beta_sn), PROTO_REF_ELEMENTS)
    )
    indium = Structure(Lattice.tetragonal(3.25, 4.95), ["In", "In"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    out.append(Prototype("proto-A6-In", indium, PROTO_REF_ELEMENTS))
    for el, (a, c, z) in A7.items():  # R-3m 6c (0, 0, +-z) with the rhombohedral centring, hexagonal cell
        frac = [
            [t[0], t[1], (t[2] + sz) % 1]
            for t in ([0, 0, 0], [2 / 3, 1 / 3, 1 / 3], [1 / 3, 2 / 3, 2 / 3])
            for sz in (z, -z)
        ]
        out.append(Prototype(f"proto-A7-{el}", Structure(Lattice.hexagonal(a, c), [el] * 6, frac), PROTO_REF_ELEMENTS))
    hg = Structure(Lattice.from_parameters(3.005, 3.005, 3.005, 70.53, 70.53, 70.53), ["Hg"], [[0, 0, 0]])
    out.append(Prototype("proto-A10-Hg", hg, PROTO_REF_ELEMENTS))
    mn = Structure.from_spacegroup(
        "P4_132", Lattice.cubic(6.315), ["Mn", "Mn"], [[0.0636] * 3, [0.125, 0.2022, 0.2022 + 0.25]]
    )
    out.append(Prototype("proto-A13-Mn", mn, REF_BETA_MN))
    for comp in B2:
        a_, b_ = _elements(comp)
        s = _sc(_zen(comp) ** (1 / 3), [a_, b_], [[0, 0, 0], [0.5, 0.5, 0.5]])
        out.append(Prototype(f"proto-B2-{comp}", s, REF_ZEN))
    for comp in L12:
        a_, b_ = _elements(comp)  # A3B: A on the face centres
        s = _sc(_zen(comp) ** (1 / 3), [a_] * 3 + [b_], [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0], [0, 0, 0]])
        out.append(Prototype(f"proto-L1_2-{comp}", s, REF_ZEN))
    for comp, ca in L10.items():
        a_, b_ = _elements(comp)
        a = (2 * _zen(comp) / ca) ** (1 / 3)  # fcc-like cell of 4 atoms; primitive tetragonal a / sqrt(2)
        s = Structure(Lattice.tetragonal(a / 2**0.5, ca * a), [a_, b_], [[0, 0, 0], [0.5, 0.5, 0.5]])
        out.append(Prototype(f"proto-L1_0-{comp}", s, REF_ZEN + "; c/a approximate"))
    for comp in L21:
        x, y, z = _elements(comp)
        s = _fcc((4 * _zen(comp)) ** (1 / 3), [x, x, y, z], [[0.25] * 3, [0.75] * 3, [0, 0, 0], [0.5] * 3])
        out.append(Prototype(f"proto-L2_1-{comp}", s, REF_ZEN))
    for comp in C15:
        a_, b_ = _elements(comp)
        b_sites = [[0.625, 0.625, 0.625], [0.625, 0.875, 0.875], [0.875, 0.625, 0.875], [0.875, 0.875, 0.625]]
        s = _fcc((8 * _zen(comp)) ** (1 / 3), [a_, a_] + [b_] * 4, [[0, 0, 0], [0.25] * 3] + b_sites)
        out.append(Prototype(f"proto-C15-{comp}", s, REF_ZEN))
    for comp in A15:
        a_, b_ = _elements(comp)
        a_sites = [[0.25, 0, 0.5], [0.75, 0, 0.5], [0.5, 0.25, 0], [0.5, 0.75, 0], [0, 0.5, 0.25], [0, 0.5, 0.75]]
        s = _sc((2 * _zen(comp)) ** (1 / 3), [a_] * 6 + [b_] * 2, a_sites + [[0, 0, 0], [0.5] * 3])
        out.append(Prototype(f"proto-A15-{comp}", s, REF_ZEN))
    for comp in D03:
        a_, b_ = _elements(comp)
        s = _fcc((4 * _zen(comp)) ** (1 / 3), [b_, a_, a_, a_], [[0, 0, 0], [0.5] * 3, [0.25] * 3, [0.75] * 3])
        out.append(Prototype(f"proto-D0_3-{comp}", s, REF_ZEN))
    for comp, (a, c) in C32.items():
        m, _ = _elements(comp)
        s = Structure(Lattice.hexagonal(a, c), [m, "B", "B"], [[0, 0, 0], [1 / 3, 2 / 3, 0.5], [2 / 3, 1 / 3, 0.5]])
        out.append(Prototype(f"proto-C32-{comp}", s, REF_COMPOUNDS))
    for comp, a in B1.items():
        m, x = _elements(comp)
        out.append(Prototype(f"proto-B1-{comp}", _fcc(a, [m, x], [[0, 0, 0], [0.5] * 3]), REF_COMPOUNDS))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--matbench", type=Path, default=SHARED / "matbench_dielectric.json.gz")
    ap.add_argument("--max-sites", type=int, default=40)
    ap.add_argument("--out", type=Path, default=ROOT / "src/dosforge/data/embedded")
    args = ap.parse_args()

    with gzip.open(args.matbench, "rt", encoding="utf-8") as fh:
        table = json.load(fh)
    entries, dropped = [], {"too_many_sites": 0, "noble_gas": 0}
    for key in tqdm(sorted(table["structure"], key=int), desc="matbench", mininterval=5):
        s = Structure.from_dict(table["structure"][key])
        if len(s) > args.max_sites:
            dropped["too_many_sites"] += 1
            continue
        if {e.symbol for e in s.composition} & NOBLE_GASES:
            dropped["noble_gas"] += 1
            continue
        extra = {"matbench_index": int(key), "refractive_index": table["n"][key], "dft_class": "insulator"}
        entries.append(entry(f"mb-dielectric-{int(key):04d}", s, "mp-matbench-dielectric", "Materials Project", extra))
    for proto in tqdm(metal_prototypes(), desc="prototypes"):
        entries.append(entry(proto.id, proto.structure, "prototype", proto.reference, {"dft_class": proto.expected}))

    args.out.mkdir(parents=True, exist_ok=True)
    doc = {"max_sites": args.max_sites, "dropped": dropped, "entries": entries}
    with atomic_path(args.out / "structures.json.gz") as tmp, open(tmp, "wb") as raw:
        # no file name and no timestamp in the gzip header: the same inputs give the same bytes
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
            fh.write(json.dumps(doc, separators=(",", ":")).encode())
    shutil.copyfile(args.matbench.parent / "LICENSE_crystal_toolkit.txt", args.out / "LICENSE_crystal_toolkit.txt")
    n_mb = sum(e["origin"] != "prototype" for e in entries)
    print(f"wrote {len(entries)} structures ({n_mb} matbench, {len(entries) - n_mb} prototypes); dropped {dropped}")


if __name__ == "__main__":
    main()
