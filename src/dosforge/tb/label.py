"""One crystal structure -> synthetic TB labels (DOS, element DOS, E_F, band gap) as a RawRecord."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from pymatgen.core import Structure

from dosforge.records import RawRecord
from dosforge.tb.hamiltonian import ETA, build_tight_binding
from dosforge.tb.kmesh import mesh_for_density, reduced_kpoints
from dosforge.tb.spectrum import broadened_dos, fermi_level, insulator_dos, solve_bands

GENERATOR = "dosforge.tb"
GENERATOR_VERSION = "1.1.0"  # bump whenever a change below can move a label


@dataclass(frozen=True)
class TBParams:
    """The frozen parameters of the labels; they travel in every record's meta."""

    taper_inner: float = 1.15  # x nearest-neighbour distance (notes/tight-binding.md)
    taper_outer: float = 1.40
    kppra: float = 1000.0  # k-points per reciprocal atom
    sigma: float = 0.15  # eV, Gaussian broadening
    edge_width: float = 0.15  # eV (= sigma): insulators tapered to 0 at band edges (spectrum.insulator_dos)
    dos_step: float = 0.02  # eV, bin width of the raw spectra
    window: float = 14.0  # eV either side of E_F in the raw spectra
    symprec: float = 1e-5  # spglib tolerance for the k-mesh reduction
    z_ref: float = 4.0  # coordination of Harrison's fit (tetrahedral)

    @classmethod
    def from_dict(cls, d: dict) -> TBParams:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: float(v) for k, v in d.items() if k in names})

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TBLabel:
    efermi: float
    band_gap: float
    is_metal: bool
    energies: np.ndarray  # (P,) absolute, bin centres
    total: np.ndarray  # (P,) states/eV, bin averages, both spins
    elements: dict[str, np.ndarray]
    n_electrons: int
    n_orbitals: int
    mesh: tuple[int, int, int]
    n_kpoints: int
    kpoint_reduction: str


def label_structure(structure: Structure, params: TBParams = TBParams(), mesh=None) -> TBLabel:
    """Label one structure. `mesh` overrides the k-point density (tests use small, commensurate meshes)."""
    tb = build_tight_binding(structure, (params.taper_inner, params.taper_outer), params.z_ref)
    mesh = tuple(mesh) if mesh is not None else mesh_for_density(structure, params.kppra)
    kpts, weights, how = reduced_kpoints(structure, mesh, params.symprec)
    bands = solve_bands(tb, kpts, weights)
    fermi = fermi_level(bands, params.sigma)
    start = math.floor((fermi.efermi - params.window) / params.dos_step) * params.dos_step
    n_bins = int(math.ceil(2 * params.window / params.dos_step)) + 1
    if fermi.is_metal:
        total, per_el = broadened_dos(bands, start, params.dos_step, n_bins, params.sigma)
    else:
        total, per_el = insulator_dos(bands, fermi, start, params.dos_step, n_bins, params.sigma, params.edge_width)
    energies = start + (np.arange(n_bins) + 0.5) * params.dos_step
    return TBLabel(
        efermi=fermi.efermi,
        band_gap=fermi.band_gap,
        is_metal=fermi.is_metal,
        energies=energies,
        total=total,
        elements={el: per_el[k] for k, el in enumerate(tb.elements)},
        n_electrons=tb.n_electrons,
        n_orbitals=tb.n_orb,
        mesh=mesh,
        n_kpoints=len(kpts),
        kpoint_reduction=how,
    )


def generator_meta(params: TBParams) -> dict:
    return {
        "generator": GENERATOR,
        "version": GENERATOR_VERSION,
        "params": params.as_dict(),
        "harrison_eta": ETA,
        "hbar2_over_m": 7.62,
        "spin": "spin-free (densities count both spins)",
    }


def to_raw_record(record_id: str, structure: Structure, label: TBLabel, params: TBParams, meta: dict) -> RawRecord:
    """Wrap a label as the project's raw record: source embedded, synthetic, gap from TB band counting."""
    full_meta = generator_meta(params) | {
        "n_electrons": label.n_electrons,
        "n_orbitals": label.n_orbitals,
        "kmesh": list(label.mesh),
        "n_kpoints_irreducible": label.n_kpoints,
        "kpoint_reduction": label.kpoint_reduction,
    }
    full_meta.update(meta)
    return RawRecord(
        id=record_id,
        source="embedded",
        synthetic=True,
        structure=structure.as_dict(),
        efermi=float(label.efermi),
        energies=label.energies,
        total={"up": label.total},
        elements={el: {"up": v} for el, v in label.elements.items()},
        band_gap=float(label.band_gap),
        gap_origin="tb",
        is_metal=bool(label.is_metal),
        magnetic_ordering=None,
        meta=full_meta,
    )
