"""Crystallographic point group of a structure (the split's strata; paper appendix B: 32 point groups).

pymatgen's SpacegroupAnalyzer (spglib) with symprec = 0.1 Å and angle_tolerance = 5°, the values the
Materials Project uses for its own symmetry data. If spglib fails at that tolerance (it can, for
distorted cells), it is retried at 0.01 and then 0.001 Å; if all fail, the structure is assigned
point group "1" (the identity alone, which every crystal has) and counted as a fallback in the
manifest, never dropped. Magnetic moments in the site properties do not change the result (spglib's
symmetry dataset ignores them): strata are crystallographic, not magnetic, point groups.
"""

from __future__ import annotations

from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

SYMPRECS = (0.1, 0.01, 0.001)  # Å; the first is MP's
ANGLE_TOLERANCE = 5.0  # degrees
FALLBACK = "1"


def point_group(structure: Structure) -> tuple[str, float | None]:
    """(Hermann-Mauguin point-group symbol, symprec that worked); (`FALLBACK`, None) when spglib fails."""
    for symprec in SYMPRECS:
        try:
            analyzer = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=ANGLE_TOLERANCE)
            symbol = analyzer.get_point_group_symbol()
        except Exception:  # spglib could not determine the symmetry at this tolerance: try a tighter one
            continue
        if symbol:
            return symbol, symprec
    return FALLBACK, None
