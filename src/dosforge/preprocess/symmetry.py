"""Crystallographic point group of a structure (the split's strata; paper appendix B: 32 point groups).

spglib's symmetry dataset with symprec = 0.1 Å and angle_tolerance = 5°, the values the Materials
Project uses for its own symmetry data. If spglib fails at that tolerance (it can, for distorted
cells), it is retried at 0.01 and then 0.001 Å; if all fail, the structure is assigned point group
"1" (the identity alone, which every crystal has) and counted as a fallback in the manifest, never
dropped. Magnetic moments do not change the result (spglib's symmetry dataset ignores them): strata
are crystallographic, not magnetic, point groups.

spglib is called directly on the cell that pymatgen's `SpacegroupAnalyzer` would pass it (same
lattice, fractional coordinates and species numbering), so the symbol is the one
`SpacegroupAnalyzer.get_point_group_symbol()` returns (tested) without the wrapper's per-structure
overhead (~0.3 ms of ~1.5 ms; issue 14).
"""

from __future__ import annotations

import spglib
from pymatgen.core import Structure

SYMPRECS = (0.1, 0.01, 0.001)  # Å; the first is MP's
ANGLE_TOLERANCE = 5.0  # degrees
FALLBACK = "1"


def point_group(structure: Structure) -> tuple[str, float | None]:
    """(Hermann-Mauguin point-group symbol, symprec that worked); (`FALLBACK`, None) when spglib fails."""
    cell = spglib_cell(structure)
    for symprec in SYMPRECS:
        try:
            symbol = spglib_point_group(cell, symprec)
        except Exception:  # spglib could not determine the symmetry at this tolerance: try a tighter one
            continue
        if symbol:
            return symbol, symprec
    return FALLBACK, None


def spglib_cell(structure: Structure) -> tuple:
    """(lattice, fractional coordinates, species numbers) numbered as SpacegroupAnalyzer numbers them:
    1, 2, ... in order of first appearance, equal species sharing a number."""
    unique: list = []
    numbers = []
    for site in structure:
        species = site.species
        # the first equal one, as `unique.index` finds it (Composition equality has a tolerance, so it is not
        # a hash lookup), in one pass instead of `in` + `index`: Composition.__eq__ is the cost here
        number = next((k for k, u in enumerate(unique, 1) if u is species or u == species), 0)
        if not number:
            unique.append(species)
            number = len(unique)
        numbers.append(number)
    return structure.lattice.matrix, structure.frac_coords, numbers


def spglib_point_group(cell: tuple, symprec: float) -> str | None:
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec, angle_tolerance=ANGLE_TOLERANCE)
    return None if dataset is None else dataset.pointgroup
