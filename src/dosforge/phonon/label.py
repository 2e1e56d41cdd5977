"""SYNTHETIC phonon DOS labels: CHGNet (a universal machine-learned potential, not DFPT) + phonopy.

Per structure (issue 11): the primitive cell, relaxed with CHGNet (positions first, then cell and
positions), finite displacements of 0.01 A in a supercell (2x2x2 when the primitive cell has fewer
than `supercell_below` sites, else the cell itself), forces minus the forces of the undisplaced
supercell (the residual of an imperfect relaxation), symmetrised force constants, a Gamma-centred mesh
and a Gaussian DOS. A structure whose lowest mode on the mesh lies below `imaginary_threshold_cm` is
dynamically unstable under the potential: it is returned with its lowest mode and excluded by the caller.

Deterministic: one BLAS/torch thread per call, fixed batch order; the same structure and params give
the same numbers bit for bit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import cache

import numpy as np
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from dosforge.phonon import THZ_TO_CM
from dosforge.records import PhononRecord

GENERATOR = "dosforge.phonon.label (CHGNet + phonopy)"
GENERATOR_VERSION = "1.0.0"


@dataclass(frozen=True)
class LabelParams:
    checkpoint: str = "0.3.0"  # CHGNet pretrained weights shipped in the chgnet wheel
    fmax: float = 0.02  # eV/A, relaxation force tolerance (both steps)
    relax_steps: int = 300  # FIRE steps per relaxation step (positions, then cell)
    displacement: float = 0.01  # A, finite displacement (issue 11)
    supercell_below: int = 8  # primitive cells with fewer sites get a 2x2x2 supercell, others 1x1x1 ...
    supercell_min_length: float = 0.0  # A; ... raised per axis to at least this length (0 = the plain rule)
    supercell_max_atoms: int = 128  # ... and lowered back to at most this many atoms (0 = no bound)
    force_batch_atoms: int = 256  # CHGNet force batches hold at most this many atoms (>= 1 supercell); memory only
    mesh: float = 40.0  # A, phonopy's length-based Gamma-centred mesh (subdivisions ~ mesh * |b_i|)
    sigma_cm: float = 8.0  # cm^-1, Gaussian broadening of the DOS
    step_cm: float = 2.0  # cm^-1, frequency step of the raw DOS
    imaginary_threshold_cm: float = -10.0  # cm^-1; lowest mode below this = unstable, excluded
    projections: bool = True  # element-projected DOS (eigenvectors on the full mesh; ~2x the DOS cost)
    symprec: float = 1e-3  # A, spglib tolerance for the primitive cell and phonopy's symmetry

    @classmethod
    def from_dict(cls, d: dict) -> LabelParams:
        names = {f.name for f in fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            raise ValueError(f"unknown phonon label parameter(s) {bad}; valid: {', '.join(sorted(names))}")
        return cls(**d)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class PhononLabel:
    relaxed: Structure  # the relaxed primitive cell the modes belong to
    frequencies_cm: np.ndarray
    total: np.ndarray  # states per cm^-1 per cell
    elements: dict[str, np.ndarray] | None
    min_frequency_cm: float
    max_frequency_cm: float
    supercell: list[int]
    n_displacements: int
    relax_steps: tuple[int, int]  # FIRE steps taken: positions, cell

    def unstable(self, params: LabelParams) -> bool:
        """The imaginary-mode rule: the lowest mode on the mesh below `imaginary_threshold_cm`."""
        return self.min_frequency_cm < params.imaginary_threshold_cm


@cache
def load_model(checkpoint: str):
    from chgnet.model import CHGNet

    return CHGNet.load(model_name=checkpoint, use_device="cpu", verbose=False)


def generator_versions(params: LabelParams) -> dict:
    from importlib.metadata import version

    return {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "chgnet": version("chgnet"),
        "chgnet_checkpoint": params.checkpoint,
        "phonopy": version("phonopy"),
        "potential": "CHGNet universal machine-learned interatomic potential (SYNTHETIC labels, not DFPT)",
    }


def primitive(structure: Structure, symprec: float) -> Structure:
    try:
        prim = SpacegroupAnalyzer(structure, symprec=symprec).find_primitive()
    except Exception:  # spglib failure: the cell itself is a valid (if larger) unit cell
        prim = None
    return prim if prim is not None and len(prim) <= len(structure) else structure


def relax(structure: Structure, params: LabelParams) -> tuple[Structure, tuple[int, int]]:
    """CHGNet relaxation, positions then cell (unrelaxed MP cells gave imaginary modes: issue 11)."""
    from chgnet.model import StructOptimizer

    optimizer = StructOptimizer(model=load_model(params.checkpoint), optimizer_class="FIRE", use_device="cpu")
    steps = []
    for relax_cell in (False, True):
        result = optimizer.relax(
            structure, fmax=params.fmax, steps=params.relax_steps, relax_cell=relax_cell, verbose=False
        )
        structure = result["final_structure"]
        steps.append(len(result["trajectory"].energies))
    return structure, (steps[0], steps[1])


def forces(structures: list[Structure], checkpoint: str, batch_atoms: int = 256) -> np.ndarray:
    """CHGNet forces, in batches of at most `batch_atoms` atoms: its autograd graph takes ~10-20 MB per supercell
    atom (measured: sixteen 96-atom supercells of one oxide went past 22 GB, one alone peaked at 2.7 GB). The
    forces of a structure do not depend on its batch (checked bitwise), so the batch size never changes a label."""
    model = load_model(checkpoint)
    per_batch = max(1, batch_atoms // max(1, len(structures[0])))
    out = []
    for start in range(0, len(structures), per_batch):
        preds = model.predict_structure(structures[start : start + per_batch], task="ef", batch_size=per_batch)
        out += preds if isinstance(preds, list) else [preds]
    return np.array([np.asarray(p["f"], dtype=float) for p in out])


def label_phonons(structure: Structure, params: LabelParams) -> PhononLabel:
    """Relax, displace, build force constants and return the phonon DOS of the primitive cell."""
    import torch
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)  # the same numbers whatever the number of workers
    with threadpool_limits(1):
        cell, steps = relax(primitive(structure, params.symprec), params)
        n = supercell_size(cell, params)
        unit = PhonopyAtoms(
            symbols=[s.specie.symbol for s in cell], cell=cell.lattice.matrix, scaled_positions=cell.frac_coords
        )
        phonon = Phonopy(unit, np.diag(n), primitive_matrix="P", symprec=params.symprec, log_level=0)
        phonon.generate_displacements(distance=params.displacement)
        supercells = [_to_structure(phonon.supercell), *map(_to_structure, phonon.supercells_with_displacements)]
        f = forces(supercells, params.checkpoint, params.force_batch_atoms)
        phonon.forces = f[1:] - f[0]
        phonon.produce_force_constants()
        phonon.symmetrize_force_constants()
        phonon.run_mesh(
            params.mesh, is_gamma_center=True, with_eigenvectors=params.projections,
            is_mesh_symmetry=not params.projections,
        )  # fmt: skip
        freqs_thz = phonon.mesh.frequencies
        fmin, fmax = float(freqs_thz.min()) * THZ_TO_CM, float(freqs_thz.max()) * THZ_TO_CM
        grid = _grid(fmin, fmax, params)
        sigma = params.sigma_cm / THZ_TO_CM
        lo, hi, pitch = grid[0] / THZ_TO_CM, grid[-1] / THZ_TO_CM, params.step_cm / THZ_TO_CM
        phonon.run_total_dos(sigma=sigma, freq_min=lo, freq_max=hi, freq_pitch=pitch)
        total = np.asarray(phonon.total_dos.dos, dtype=float)[: len(grid)] / THZ_TO_CM
        elements = None
        if params.projections:
            phonon.run_projected_dos(sigma=sigma, freq_min=lo, freq_max=hi, freq_pitch=pitch)
            per_site = np.asarray(phonon.projected_dos.projected_dos, dtype=float)[:, : len(grid)] / THZ_TO_CM
            elements = {}
            for site, symbol in zip(per_site, unit.symbols, strict=True):
                elements[symbol] = elements.get(symbol, 0.0) + site
    return PhononLabel(cell, grid, total, elements, fmin, fmax, n, len(supercells) - 1, steps)


def supercell_size(cell: Structure, params: LabelParams) -> list[int]:
    """2 along every axis when the cell has fewer than `supercell_below` sites, else 1; then raised
    per axis until the supercell is at least `supercell_min_length` long there (0 = off); then, while it
    has more than `supercell_max_atoms` atoms, the axis along which the supercell is longest is shortened
    by one cell (never below 1): the 10 A rule once built a supercell whose forces exhausted 24 GB."""
    base = 2 if len(cell) < params.supercell_below else 1
    lengths = cell.lattice.abc
    n = [max(base, int(np.ceil(params.supercell_min_length / a - 1e-9))) for a in lengths]
    while params.supercell_max_atoms and len(cell) * int(np.prod(n)) > params.supercell_max_atoms:
        longest = max((i for i in range(3) if n[i] > 1), key=lambda i: (n[i] * lengths[i], -i), default=None)
        if longest is None:
            break  # the cell itself: nothing left to shorten
        n[longest] -= 1
    return n


def _grid(fmin_cm: float, fmax_cm: float, params: LabelParams) -> np.ndarray:
    """From min(0, lowest mode) - 5 sigma to the highest mode + 5 sigma: the Gaussian tails hold all 3N modes."""
    step = params.step_cm
    lo = np.floor((min(0.0, fmin_cm) - 5 * params.sigma_cm) / step) * step
    hi = np.ceil((fmax_cm + 5 * params.sigma_cm) / step) * step
    return lo + step * np.arange(int(round((hi - lo) / step)) + 1)


def _to_structure(atoms) -> Structure:
    return Structure(atoms.cell, atoms.symbols, atoms.scaled_positions)


def to_phonon_record(record_id: str, label: PhononLabel, params: LabelParams, meta: dict) -> PhononRecord:
    return PhononRecord(
        id=record_id,
        source="embedded",
        synthetic=True,
        structure=label.relaxed.as_dict(),
        frequencies=label.frequencies_cm,
        total=label.total,
        elements=label.elements,
        min_frequency=label.min_frequency_cm,
        meta={
            **meta,
            **generator_versions(params),
            "params": params.as_dict(),
            "max_mode_cm": label.max_frequency_cm,
            "supercell": label.supercell,
            "n_displacements": label.n_displacements,
            "relax_steps": {"positions": label.relax_steps[0], "cell": label.relax_steps[1]},
        },
    )
