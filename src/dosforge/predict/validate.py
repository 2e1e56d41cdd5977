"""Per-structure checks before prediction, each failing with a message that says what to do.

A structure the model cannot predict honestly is rejected with its reason instead of producing
numbers: partial occupancy or mixed sites (the model sees one element per atom), noble gases
(excluded from training as in the paper, section 4.1), elements the checkpoint never saw in
training (their embeddings and EPDOS statistics are untrained), and structures above the
documented size limit.

Size limit: `DEFAULT_MAX_ATOMS` sites in the cell the model sees (the primitive cell by default;
`dosforge.predict.predictor` applies it there, and refuses inputs above 2 x the limit before the slow
primitive-cell search). Measured for one 512-site cell on 2 CPU cores: crystal graph 7.4 s,
paper-size model forward 9 s and +0.36 GB, peak 0.88 GB; 1000 sites: graph 36 s, peak 1.15 GB
(`benchmarks/bench_predict.py --cell-limits`, docs/predict.md). 500 sites covers Materials Project
cells and keeps one structure to ~20 s and under 1 GB; batches are further capped in atoms
(`predictor.MAX_BATCH_ATOMS`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pymatgen.core import Element, Structure

from dosforge import NOBLE_GASES

DEFAULT_MAX_ATOMS = 500


class StructureError(ValueError):
    """One or more structures cannot be predicted; the message lists each with its reason."""


def validate_structure(
    structure: Structure,
    known_z: Iterable[int] | None = None,
    max_atoms: int | None = DEFAULT_MAX_ATOMS,
) -> str | None:
    """Return None when the structure can be predicted, else every reason it cannot, joined by '; '.

    `max_atoms=None` skips the size check (the predictor applies it to the primitive cell instead).
    """
    if not isinstance(structure, Structure):
        return f"not a pymatgen Structure (got {type(structure).__name__})"
    n = len(structure)
    if n == 0:
        return "empty structure (no sites)"
    reasons: list[str] = []
    if max_atoms is not None and n > max_atoms:
        reasons.append(
            f"too large: {n} sites > max_atoms={max_atoms} (memory limit, see docs/predict.md; pass a smaller "
            "(primitive) cell or raise --max-atoms knowingly)"
        )
    matrix = structure.lattice.matrix
    if not (np.isfinite(matrix).all() and np.isfinite(structure.cart_coords).all()):
        reasons.append("lattice or coordinates contain NaN or inf")
    elif structure.volume < 1e-3:
        reasons.append(f"degenerate lattice (cell volume {structure.volume:.3g} A^3)")
    disordered = [i for i, site in enumerate(structure) if not site.is_ordered]
    if disordered:
        i = disordered[0]
        reasons.append(
            f"partial occupancy or mixed species on {len(disordered)} site(s) (first: site {i}, "
            f"{structure[i].species.formula}); order the structure first (e.g. pymatgen's "
            "OrderDisorderedStructureTransformation), the model needs one element per site"
        )
        return "; ".join(reasons)  # element checks below assume one element per site
    symbols = sorted({_symbol(site) for site in structure}, key=_z_or_zero)
    dummies = [s for s in symbols if _z_or_zero(s) == 0]
    if dummies:
        reasons.append(f"non-element species {', '.join(dummies)}")
    noble = [s for s in symbols if s in NOBLE_GASES]
    if noble:
        reasons.append(
            f"contains noble gas(es) {', '.join(noble)}: excluded from training (paper section 4.1), "
            "so the model cannot predict them"
        )
    if known_z is not None:
        known = set(int(z) for z in known_z)
        unseen = [s for s in symbols if s not in NOBLE_GASES and s not in dummies and Element(s).Z not in known]
        if unseen:
            known_symbols = ", ".join(Element.from_Z(z).symbol for z in sorted(known))
            reasons.append(
                f"element(s) {', '.join(unseen)} never seen in this model's training data "
                f"(it knows: {known_symbols}); train on data that contains them"
            )
    return "; ".join(reasons) or None


def _symbol(site) -> str:
    sp = site.specie
    el = getattr(sp, "element", None)  # Species with an oxidation state -> its Element
    return getattr(el, "symbol", None) or getattr(sp, "symbol", str(sp))


def _z_or_zero(symbol: str) -> int:
    try:
        return Element(symbol).Z
    except ValueError:
        return 0
