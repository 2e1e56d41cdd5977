"""Why a raw record cannot be used: the reject reasons of preprocess, checked in a fixed order.

Every record either passes or gets exactly one reason (the first that applies) and a detail
string; preprocess writes both to `rejects.csv` and prints counts per reason. Nothing is dropped
without a row there.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure

from dosforge import NOBLE_GASES
from dosforge.grid import EnergyGrid
from dosforge.preprocess.spectra import window_covered
from dosforge.records import RawRecord

UNPARSEABLE = "unparseable"
EMPTY = "empty structure"
DISORDERED = "disordered or partial occupancy"
NOBLE_GAS = "noble gas"  # excluded as in the paper (appendix B: insufficient element coverage)
SHAPE = "array length mismatch"
NON_FINITE = "NaN or inf"
NOT_INCREASING = "energies not increasing"
NOT_COVERED = "window not covered"
NO_PROJECTIONS = "projections missing"
NO_GAP = "band gap missing"
ZERO_DOS = "zero DOS in window"
GRAPH_FAILED = "graph construction failed"
UNEXPECTED = "processing error"  # anything the checks above did not foresee; the detail holds the exception
REASONS = (
    UNPARSEABLE,
    EMPTY,
    DISORDERED,
    NOBLE_GAS,
    SHAPE,
    NON_FINITE,
    NOT_INCREASING,
    NOT_COVERED,
    NO_PROJECTIONS,
    NO_GAP,
    ZERO_DOS,
    GRAPH_FAILED,
    UNEXPECTED,
)


class Reject(Exception):
    """A record that preprocess cannot use; `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def parse_structure(record: RawRecord) -> Structure:
    if isinstance(record.structure, dict) and record.structure.get("sites") == []:
        raise Reject(EMPTY, "no sites")
    try:
        structure = Structure.from_dict(record.structure)
    except Exception as exc:
        raise Reject(UNPARSEABLE, f"structure: {type(exc).__name__}: {exc}") from exc
    if len(structure) == 0:
        raise Reject(EMPTY, "no sites")
    if not structure.is_ordered:
        raise Reject(DISORDERED, "a site has several species or an occupancy below 1")
    noble = sorted({el.symbol for el in structure.composition.elements} & NOBLE_GASES)
    if noble:
        raise Reject(NOBLE_GAS, ",".join(noble))
    return structure


def check_arrays(record: RawRecord, structure: Structure, grid: EnergyGrid) -> None:
    """Energies, densities and projections: finite, consistent, increasing, covering the window."""
    energies = record.energies
    n = len(energies)
    if n < 2:
        raise Reject(SHAPE, f"{n} energy points")
    if not record.total or "up" not in record.total:
        raise Reject(SHAPE, "no 'up' total density")
    symbols = sorted({el.symbol for el in structure.composition.elements})
    if not record.elements:
        raise Reject(NO_PROJECTIONS, "the record has no element projections")
    missing = [s for s in symbols if s not in record.elements]
    extra = [s for s in record.elements if s not in symbols]
    if missing or extra:
        raise Reject(NO_PROJECTIONS, f"structure elements {symbols}, projections for {sorted(record.elements)}")
    channels = [("total", s, v) for s, v in record.total.items()]
    channels += [(el, s, v) for el, spins in record.elements.items() for s, v in spins.items()]
    spins_total = set(record.total)
    for el, spins in record.elements.items():
        if set(spins) != spins_total:
            raise Reject(SHAPE, f"{el} has spins {sorted(spins)}, total has {sorted(spins_total)}")
    for name, spin, values in channels:
        if np.shape(values) != (n,):
            raise Reject(SHAPE, f"{name}/{spin} has shape {np.shape(values)}, energies ({n},)")
    if not np.isfinite(record.efermi) or not np.isfinite(energies).all():
        raise Reject(NON_FINITE, "in energies or E_F")
    for name, spin, values in channels:
        if not np.isfinite(values).all():
            raise Reject(NON_FINITE, f"in {name}/{spin} density")
    steps = np.diff(energies)
    if (steps <= 0).any():
        raise Reject(NOT_INCREASING, f"first at index {int(np.argmax(steps <= 0)) + 1}")
    if not window_covered(energies, record.efermi, grid):
        raise Reject(
            NOT_COVERED,
            f"raw energies span [{energies[0] - record.efermi:.2f}, {energies[-1] - record.efermi:.2f}] eV "
            f"around E_F; the grid needs [{grid.emin}, {grid.emax}]",
        )
    if record.band_gap is None or not np.isfinite(record.band_gap) or record.band_gap < 0:
        raise Reject(NO_GAP, f"band_gap={record.band_gap!r}")
