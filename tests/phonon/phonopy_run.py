"""A real phonopy run on a tiny cell for the tests: fcc Cu (1 site) or L1_2 Cu3Au (4 sites, 2 elements) with
ASE's EMT potential (milliseconds per force call; both dynamically stable under EMT), finite displacements,
mesh DOS and projected DOS written as phonopy writes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms

SIGMA_THZ = 0.2


def tiny_cell(kind: str = "Cu"):
    if kind == "Cu":
        return bulk("Cu", "fcc", a=3.61)
    from ase.lattice.compounds import L1_2

    return L1_2(["Au", "Cu"], size=(1, 1, 1), latticeconstant=3.74)  # two elements: projections are non-trivial


def run_phonopy(out: Path, kind: str = "Cu", projected: bool = True) -> Phonopy:
    """Write `phonopy_disp.yaml`, `total_dos.dat` (and `projected_dos.dat`) into `out`; return the Phonopy."""
    atoms = tiny_cell(kind)
    unit = PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(), cell=atoms.cell[:], scaled_positions=atoms.get_scaled_positions()
    )
    n = 3 if len(atoms) == 1 else 2
    phonon = Phonopy(unit, np.diag([n, n, n]), primitive_matrix="P", log_level=0)
    phonon.generate_displacements(distance=0.01)
    forces = []
    for sc in phonon.supercells_with_displacements:
        a = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        a.calc = EMT()
        forces.append(a.get_forces())
    phonon.forces = np.array(forces)
    phonon.produce_force_constants()
    out.mkdir(parents=True, exist_ok=True)
    phonon.save(out / "phonopy_disp.yaml", settings={"force_sets": False, "force_constants": False})
    phonon.run_mesh([12, 12, 12], is_gamma_center=True, with_eigenvectors=projected, is_mesh_symmetry=not projected)
    fmax = float(phonon.mesh.frequencies.max()) + 6 * SIGMA_THZ
    phonon.run_total_dos(sigma=SIGMA_THZ, freq_min=-6 * SIGMA_THZ, freq_max=fmax, freq_pitch=0.02)
    phonon.write_total_dos(out / "total_dos.dat")
    if projected:
        phonon.run_projected_dos(sigma=SIGMA_THZ, freq_min=-6 * SIGMA_THZ, freq_max=fmax, freq_pitch=0.02)
        phonon.write_projected_dos(out / "projected_dos.dat")
    return phonon
