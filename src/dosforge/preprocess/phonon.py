"""preprocess for phonon records: the frequency grid, resampling and normalisation (`phonon` params section).

DOSTransformer's phonon task (supplement A.1; notes/dostransformer.md §3): 51 points over 0-1000 cm^-1,
each spectrum divided by its maximum. Here:
- grid: `phonon.points` frequencies `linspace(fmin, fmax, points)` in cm^-1 (points, not bin centres, as
  the published `phfreq`); the electron `grid` section is not used for phonons.
- `phonon.resample`: `average` (default) = the raw DOS averaged over each point's window of one step
  (exact mode count: sum(dos) * step = modes within [fmin - step/2, fmax + step/2]) | `interpolate` = the
  raw DOS at the point (DOSTransformer's sampling; a peak narrower than a step can fall between points).
  Outside the raw frequencies the DOS is 0 (a phonon DOS is empty above its highest mode).
- `phonon.normalize`: `max` (DOSTransformer: total and element rows divided by the total's maximum; the
  factor is kept in the manifest, `scale`) | `dosforge` (states per cm^-1 per cell as they are, left to the
  split stage's training-split statistics like electron DOS).
Electron-only fields of the shards (E_F, gap, metal flag) do not exist for phonons: they are written as
0 / 0 / false with `gap_origin` "none (phonon)" so the shard format stays one; the model side must not
train Fermi or gap heads on them (manifest `spectrum: phonon`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dosforge.config import ConfigError, choice, known_keys
from dosforge.preprocess import symmetry, validate
from dosforge.records import PhononRecord

PHONON_KEYS = ("fmin", "fmax", "points", "resample", "normalize", "mode_tolerance")
RESAMPLE_MODES = ("average", "interpolate")
BIN_VALUES = {"average": "window average over one step", "interpolate": "value at the point"}
NORMALIZATIONS = ("max", "dosforge")
NO_GAP_ORIGIN = "none (phonon)"


@dataclass(frozen=True)
class FrequencyGrid:
    fmin: float = 0.0  # cm^-1
    fmax: float = 1000.0
    points: int = 51
    unit: str = "cm^-1"

    @classmethod
    def from_params(cls, params: dict) -> FrequencyGrid:
        cfg = known_keys(dict(params.get("phonon") or {}), PHONON_KEYS, "phonon")
        grid = cls(float(cfg.get("fmin", 0.0)), float(cfg.get("fmax", 1000.0)), int(cfg.get("points", 51)))
        if grid.points < 2 or grid.fmax <= grid.fmin:
            raise ConfigError(f"phonon grid [{grid.fmin}, {grid.fmax}] cm^-1 with {grid.points} points: "
                              "need points >= 2 and fmax > fmin")  # fmt: skip
        return grid

    @property
    def values(self) -> np.ndarray:
        return np.linspace(self.fmin, self.fmax, self.points)

    @property
    def step(self) -> float:
        return (self.fmax - self.fmin) / (self.points - 1)

    def as_dict(self) -> dict:
        return {**asdict(self), "bins": self.points}  # "bins": the spectrum length the shard loader reads


def options(params: dict) -> dict:
    cfg = known_keys(dict(params.get("phonon") or {}), PHONON_KEYS, "phonon")
    return {
        "resample": choice(cfg.get("resample", "average"), RESAMPLE_MODES, "phonon.resample"),
        "normalize": choice(cfg.get("normalize", "max"), NORMALIZATIONS, "phonon.normalize"),
        "mode_tolerance": float(cfg.get("mode_tolerance", 0.05)),
    }


def resample(freqs: np.ndarray, density: np.ndarray, grid: FrequencyGrid, mode: str) -> np.ndarray:
    """The raw DOS on the grid points: window averages (exact counts) or point values; 0 outside the raw range."""
    points = grid.values
    if mode == "interpolate":
        return np.interp(points, freqs, density, left=0.0, right=0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(freqs))])
    edges = np.concatenate([points - grid.step / 2, [points[-1] + grid.step / 2]])
    # the cumulative integral is linear between raw points only where the DOS is; near-exact for a fine raw grid
    counts = np.interp(edges, freqs, cumulative, left=0.0, right=cumulative[-1])
    return np.diff(counts) / grid.step


def process_phonon_record(record: PhononRecord, grid: FrequencyGrid, graph_builder, opts: dict) -> dict:
    """One phonon record -> the material dict of the shards (same fields as electron materials)."""
    if not isinstance(record, PhononRecord):
        raise validate.Reject(validate.UNEXPECTED, "an electron record in a phonon preprocess (data.spectrum)")
    from dosforge.phonon.validate import check_phonon_record  # here: that module imports dosforge.preprocess

    check_phonon_record(record, opts["mode_tolerance"])
    structure = validate.parse_structure(record)
    if not record.elements:
        raise validate.Reject(validate.NO_PROJECTIONS, "the phonon record has no element projections")
    elements = sorted(record.elements, key=_z)
    dos = resample(record.frequencies, record.total, grid, opts["resample"])
    rows = np.stack([resample(record.frequencies, record.elements[s], grid, opts["resample"]) for s in elements])
    if not dos.max() > 0:
        raise validate.Reject(validate.ZERO_DOS, f"no modes in [{grid.fmin}, {grid.fmax}] cm^-1")
    modes_in_window = float(dos.sum() * grid.step)
    scale = float(dos.max()) if opts["normalize"] == "max" else 1.0
    graph = {}
    if graph_builder is not None:
        try:
            graph = {k: np.asarray(v) for k, v in graph_builder(structure).items()}
        except Exception as exc:
            raise validate.Reject(validate.GRAPH_FAILED, f"{type(exc).__name__}: {exc}") from exc
    pg, symprec = symmetry.point_group(structure)
    return {
        "id": record.id,
        "formula": structure.composition.reduced_formula,
        "point_group": pg,
        "symprec": symprec,
        "source": record.source,
        "synthetic": bool(record.synthetic),
        "gap_origin": NO_GAP_ORIGIN,
        "dos": (dos / scale).astype(np.float32),
        "epdos": (rows / scale).astype(np.float32),
        "epdos_z": np.array([_z(s) for s in elements], dtype=np.int64),
        "epdos_residual": float(np.abs(rows.sum(0) - dos).sum() / dos.sum()),
        "efermi": 0.0,
        "gap": 0.0,
        "is_metal": False,
        "atomic_numbers": np.array(structure.atomic_numbers, dtype=np.int64),
        "cart_coords": structure.cart_coords,
        "lattice": structure.lattice.matrix,
        "graph": graph,
        "scale": scale,
        "mode_fraction_in_window": modes_in_window / (3 * len(structure)),
    }


def _z(symbol: str) -> int:
    from pymatgen.core.periodic_table import Element

    return Element(symbol).Z
