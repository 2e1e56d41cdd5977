"""Phonon DOS from pymatgen objects and phonopy output files into `PhononRecord`s (cm^-1, per cell).

pymatgen `PhononDos` and phonopy (VASP units, its default) give frequencies in THz and densities per
THz; both are converted once here. phonopy's `total_dos.dat` / `projected_dos.dat` count the modes of
the primitive cell, so the structure is phonopy's primitive cell (from `phonopy_disp.yaml` or
`phonopy.yaml`), one projected column per primitive atom in its order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pymatgen.core import Structure
from pymatgen.phonon.dos import CompletePhononDos, PhononDos

from dosforge.phonon import THZ_TO_CM
from dosforge.records import PhononRecord

UNIT_FACTORS = {"THz": THZ_TO_CM, "cm^-1": 1.0}  # multiply a frequency by this to get cm^-1


def record_from_phonon_dos(
    dos: PhononDos,
    record_id: str,
    source: str,
    structure: Structure | dict | None = None,
    meta: dict | None = None,
) -> PhononRecord:
    """A pymatgen `PhononDos` (THz) or `CompletePhononDos` as a record; a plain DOS needs `structure`."""
    if isinstance(dos, CompletePhononDos):
        structure = dos.structure
    if structure is None:
        raise ValueError("a phonon DOS without a structure cannot be used (need a CompletePhononDos or a structure)")
    structure = structure if isinstance(structure, Structure) else Structure.from_dict(structure)
    elements = None
    if isinstance(dos, CompletePhononDos) and dos.pdos:
        elements = {
            el.symbol: np.asarray(d.densities, dtype=float) / THZ_TO_CM for el, d in dos.get_element_dos().items()
        }
    return PhononRecord(
        id=record_id,
        source=source,
        synthetic=False,
        structure=structure.as_dict(),
        frequencies=np.asarray(dos.frequencies, dtype=float) * THZ_TO_CM,
        total=np.asarray(dos.densities, dtype=float) / THZ_TO_CM,
        elements=elements,
        meta=dict(meta or {}),
    )


def phonon_dos_from_dict(d: dict) -> PhononDos:
    """A pymatgen `CompletePhononDos`/`PhononDos` dict, or mp-api's `PhononDOS` document as a dict."""
    if "frequencies" not in d or "densities" not in d:
        raise ValueError("not a phonon DOS dict (no 'frequencies'/'densities')")
    if "projected_densities" in d:  # mp-api / emmet document: convert through its own model
        from emmet.core.phonon import PhononDOS

        return PhononDOS(**d).to_pmg
    if d.get("structure") is not None and d.get("pdos"):
        return CompletePhononDos.from_dict(d)
    return PhononDos.from_dict(d)


def read_phonopy_structure(yaml_path: str | Path) -> Structure:
    """phonopy's primitive cell from `phonopy_disp.yaml` / `phonopy.yaml` (the cell its DOS counts)."""
    import phonopy

    ph = phonopy.load(str(yaml_path), produce_fc=False, log_level=0)
    prim = ph.primitive
    return Structure(prim.cell, prim.symbols, prim.scaled_positions)


def read_dos_dat(path: str | Path) -> np.ndarray:
    """A phonopy `*_dos.dat` as a (P, 1 + columns) array; comment lines start with '#'."""
    table = np.loadtxt(path, comments="#", ndmin=2)
    if table.shape[1] < 2 or table.shape[0] < 2:
        raise ValueError(f"{Path(path).name}: expected >= 2 rows of frequency and DOS columns, got {table.shape}")
    return table


def record_from_phonopy(
    folder: Path, record_id: str, unit: str = "THz", structure_file: Path | None = None
) -> PhononRecord:
    """`total_dos.dat` (+ `projected_dos.dat` when present) of one phonopy run, structure from its yaml."""
    if unit not in UNIT_FACTORS:
        raise ValueError(f"frequency unit {unit!r} is not known; choose one of: {', '.join(UNIT_FACTORS)}")
    yaml_path = structure_file or next(
        (folder / n for n in ("phonopy_disp.yaml", "phonopy.yaml", "phonopy_params.yaml") if (folder / n).exists()),
        None,
    )
    if yaml_path is None:
        raise ValueError("no phonopy_disp.yaml / phonopy.yaml beside total_dos.dat: the structure is unknown")
    structure = read_phonopy_structure(yaml_path)
    factor = UNIT_FACTORS[unit]
    total = read_dos_dat(folder / "total_dos.dat")
    elements = None
    if (folder / "projected_dos.dat").exists():
        projected = read_dos_dat(folder / "projected_dos.dat")
        if projected.shape[1] - 1 != len(structure):
            raise ValueError(f"projected_dos.dat has {projected.shape[1] - 1} atom columns, the primitive cell has "
                             f"{len(structure)} sites")  # fmt: skip
        if not np.allclose(projected[:, 0], total[:, 0]):
            raise ValueError("projected_dos.dat and total_dos.dat have different frequency points")
        elements = {}
        for column, site in zip(projected[:, 1:].T, structure, strict=True):
            elements[site.specie.symbol] = elements.get(site.specie.symbol, 0.0) + column / factor
    return PhononRecord(
        id=record_id,
        source="files",
        synthetic=False,
        structure=structure.as_dict(),
        frequencies=total[:, 0] * factor,
        total=total[:, 1] / factor,
        elements=elements,
        meta={"structure_file": yaml_path.name, "file_frequency_unit": unit},
    )
