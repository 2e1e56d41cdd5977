"""Minimal valence basis per element: orbitals, on-site energies, valence electrons, d radii.

Recipe (shared/notes/tight-binding.md): valence s and p for every element, d as well for
transition metals, lanthanides and actinides (f electrons in the core); H gets s only. On-site
energies are the LDA atomic orbital energies tabulated by pymatgen (`Element.atomic_orbitals`,
Hartree). That table lists occupied orbitals only, so:
- an empty valence p (alkali, alkaline earth, transition metals) sits at E_s / 2;
- a missing valence s (Pd 4d10 5s0) or d (lanthanides with 4f^n 6s2) is taken from the nearest
  element of the same row that has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from pymatgen.core import Element

HARTREE_EV = 27.211386245988

# Harrison's d-state radius r_d (Angstrom), Solid State Table (W. A. Harrison, "Electronic Structure
# and the Properties of Solids", 1980, Table 20-4; "Elementary Electronic Structure", 1999). Zn, Cd, Hg
# (not in the table) and the lanthanides/actinides are our interpolations: see docs/data_card.md.
R_D = {
    "Sc": 1.24, "Ti": 1.08, "V": 0.98, "Cr": 0.90, "Mn": 0.86, "Fe": 0.80, "Co": 0.76, "Ni": 0.71, "Cu": 0.67,
    "Zn": 0.59,
    "Y": 1.58, "Zr": 1.41, "Nb": 1.28, "Mo": 1.20, "Tc": 1.13, "Ru": 1.08, "Rh": 1.01, "Pd": 0.96, "Ag": 0.91,
    "Cd": 0.80,
    "La": 1.58, "Hf": 1.44, "Ta": 1.34, "W": 1.27, "Re": 1.20, "Os": 1.16, "Ir": 1.08, "Pt": 1.04, "Au": 1.01,
    "Hg": 0.90,
}  # fmt: skip
ORBITAL_NAMES = ("s", "px", "py", "pz", "dxy", "dyz", "dzx", "dx2-y2", "dz2")


class UnsupportedElementError(ValueError):
    """The element has no usable atomic orbital energies (e.g. Np, Pu) or is a noble gas."""


@dataclass(frozen=True)
class Species:
    symbol: str
    z: int
    has_p: bool
    has_d: bool
    e_s: float  # eV
    e_p: float
    e_d: float  # NaN without d
    valence: int  # electrons in the s/p/d basis
    r_d: float  # Angstrom, NaN without d

    @property
    def n_orb(self) -> int:
        return 1 + 3 * self.has_p + 5 * self.has_d

    @property
    def onsite(self) -> np.ndarray:
        e = [self.e_s] + [self.e_p] * (3 * self.has_p) + [self.e_d] * (5 * self.has_d)
        return np.asarray(e, dtype=float)


def _has_d(el: Element) -> bool:
    return bool(el.is_transition_metal or el.is_lanthanoid or el.is_actinoid)


def _valence(el: Element) -> int:
    if el.is_lanthanoid or (el.is_actinoid and el.symbol != "Th"):
        return 3  # f electrons kept in the core (notes: 3 for lanthanides)
    if el.symbol == "Th":
        return 4
    g = el.group
    if el.symbol in ("H", "He"):
        return el.Z
    return g if g <= 12 else g - 10


def _orbitals(el: Element) -> dict[str, float]:
    orbs = el.atomic_orbitals
    if not orbs:
        raise UnsupportedElementError(f"no atomic orbital energies for {el.symbol} in pymatgen")
    return orbs


def _shell(orbs: dict[str, float], l_char: str, n: int) -> float | None:
    e = orbs.get(f"{n}{l_char}")
    return None if e is None else e * HARTREE_EV


def _row_neighbour_value(el: Element, l_char: str, n_of) -> float:
    """A missing orbital energy from the nearest element of the same row that has it (ties: lower Z)."""
    for dz in range(1, 15):
        for z in (el.Z - dz, el.Z + dz):
            other = Element.from_Z(z)
            if other.row != el.row or not other.atomic_orbitals:
                continue
            e = _shell(other.atomic_orbitals, l_char, n_of(other))
            if e is not None:
                return e
    raise UnsupportedElementError(f"no {l_char} orbital energy for {el.symbol} or its row neighbours")


@cache
def species(symbol: str) -> Species:
    el = Element(symbol)
    if el.is_noble_gas:
        raise UnsupportedElementError(f"{symbol} is a noble gas (excluded by design)")
    orbs = _orbitals(el)
    n = el.row
    e_s = _shell(orbs, "s", n)
    if e_s is None:  # Pd: 4d10 5s0
        e_s = _row_neighbour_value(el, "s", lambda o: o.row)
    has_p = symbol != "H"
    e_p = _shell(orbs, "p", n) if has_p else np.nan
    if has_p and e_p is None:
        e_p = e_s / 2  # empty valence p (notes)
    has_d = _has_d(el)
    e_d, r_d = np.nan, np.nan
    if has_d:
        n_d = n - 1
        e_d = _shell(orbs, "d", n_d)
        if e_d is None:
            e_d = _row_neighbour_value(el, "d", lambda o: o.row - 1)
        r_d = d_radius(symbol)
    return Species(symbol, el.Z, has_p, has_d, float(e_s), float(e_p), float(e_d), _valence(el), r_d)


def d_radius(symbol: str) -> float:
    """r_d from Harrison's table; lanthanides interpolated La -> Hf, actinides take La's value."""
    if symbol in R_D:
        return R_D[symbol]
    el = Element(symbol)
    if el.is_lanthanoid:  # Ce..Lu: linear in Z between La (57) and Hf (72)
        t = (el.Z - 57) / (72 - 57)
        return (1 - t) * R_D["La"] + t * R_D["Hf"]
    if el.is_actinoid:
        return R_D["La"]
    raise UnsupportedElementError(f"no d radius for {symbol}")


def open_shell_tm(symbol: str, oxidation_state: float) -> bool:
    """A d-block ion with a partly filled d shell (0 < d < 10) in the given oxidation state.

    d = group - oxidation state (the ionic picture). For oxidation state 0 (a metal), the cell is
    called open-shell when the element is one of the magnetic 3d metals (Cr, Mn, Fe, Co, Ni).
    """
    el = Element(symbol)
    if not el.is_transition_metal or el.group > 11 or el.group < 3:
        return False
    if oxidation_state == 0:
        return symbol in ("Cr", "Mn", "Fe", "Co", "Ni")
    d = el.group - oxidation_state
    return 0 < d < 10
