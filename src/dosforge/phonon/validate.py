"""Why a phonon record cannot be used: the checks of electron records (`preprocess.validate`) for phonons.

The structure checks are shared; the spectrum checks differ: one density channel, frequencies
increasing, densities non-negative, and the mode count: the total integrates to 3N over the record's
frequencies (N sites of the cell), within `tolerance`. A record either passes or gets the first reason
that applies; element projections are optional (phonopy gives them, MP's DFPT DOS often not).
"""

from __future__ import annotations

import numpy as np

from dosforge.preprocess.validate import NO_PROJECTIONS, NON_FINITE, NOT_INCREASING, SHAPE, Reject, parse_structure
from dosforge.records import PhononRecord

NEGATIVE = "negative phonon DOS"
MODE_COUNT = "mode count is not 3N"
DEFAULT_TOLERANCE = 0.05  # relative; a DOS cut off above its highest mode, or of another cell, fails


def mode_count(record: PhononRecord) -> float:
    """The integral of the total phonon DOS over frequency: 3N modes per cell for a complete DOS."""
    return float(np.trapezoid(record.total, record.frequencies))


def check_phonon_record(record: PhononRecord, tolerance: float = DEFAULT_TOLERANCE) -> None:
    """Raise `Reject` with the first reason that applies; return None for a usable record."""
    structure = parse_structure(record)
    freqs, total = np.asarray(record.frequencies), np.asarray(record.total)
    if freqs.ndim != 1 or len(freqs) < 2:
        raise Reject(SHAPE, f"frequencies have shape {freqs.shape}")
    if total.shape != freqs.shape:
        raise Reject(SHAPE, f"total has shape {total.shape}, frequencies {freqs.shape}")
    symbols = sorted({el.symbol for el in structure.composition.elements})
    if record.elements is not None:
        if sorted(record.elements) != symbols:
            raise Reject(NO_PROJECTIONS, f"structure elements {symbols}, projections for {sorted(record.elements)}")
        for el, values in record.elements.items():
            if np.shape(values) != freqs.shape:
                raise Reject(SHAPE, f"{el} has shape {np.shape(values)}, frequencies {freqs.shape}")
    channels = [("total", total), *((el, np.asarray(v)) for el, v in (record.elements or {}).items())]
    if not np.isfinite(freqs).all():
        raise Reject(NON_FINITE, "in frequencies")
    for name, values in channels:
        if not np.isfinite(values).all():
            raise Reject(NON_FINITE, f"in {name} density")
    steps = np.diff(freqs)
    if (steps <= 0).any():
        raise Reject(NOT_INCREASING, f"frequencies, first at index {int(np.argmax(steps <= 0)) + 1}")
    for name, values in channels:
        if values.min() < -1e-9 * max(values.max(), 1e-300):
            raise Reject(NEGATIVE, f"{name} down to {values.min():.3g}")
    n_modes, expected = mode_count(record), 3 * len(structure)
    if abs(n_modes / expected - 1) > tolerance:
        raise Reject(MODE_COUNT, f"integral {n_modes:.3f}, 3N = {expected} ({len(structure)} sites)")
