"""What a prediction returns for one structure, in original units, convertible to pymatgen objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Structure


@dataclass
class PredictionResult:
    """DOS, EPDOS, E_F and E_g for one structure.

    Spectra are states/eV per *input* cell on the checkpoint's grid (bin values as its training
    data held them: `preprocess.resample`, see `dosforge.grid`), never negative (a DOS is
    non-negative, paper section 3.1). `energies` are bin centres relative to E_F;
    `energies_absolute` adds the predicted E_F. `gap` (>= 0) comes from the model's gap head
    (Algorithm 1 for `extract`), `gap_ext` from the appendix A.4 threshold scan of the predicted
    DOS. NaN (or None for spectra) where the checkpoint has no such task.
    `epdos_sum_residual`: sum_bins |sum_el EPDOS - DOS| / sum_bins DOS of the model's own prediction
    (before any rescaling; NaN without both spectra). `epdos_rescaled`: the EPDOS rows were rescaled
    per bin to sum to the predicted DOS (`rescale_epdos=True`, `dosforge.predict.consistency`).
    """

    id: str
    source: str
    formula: str
    n_sites: int  # sites in the input cell
    n_sites_model: int  # sites in the cell the model saw (the primitive cell unless primitive=False)
    energies: np.ndarray  # (T,) eV relative to E_F
    dos: np.ndarray | None  # (T,) states/eV per input cell
    epdos: dict[str, np.ndarray] | None  # element symbol -> (T,), sorted by Z
    efermi: float  # eV, absolute
    gap: float  # eV, model head
    gap_ext: float  # eV, threshold scan of the predicted DOS
    synthetic: bool  # the checkpoint was trained on synthetic (tight-binding) labels
    structure: Structure | None = field(default=None, repr=False)
    epdos_rescaled: bool = False  # EPDOS rescaled per bin to sum to the predicted DOS
    epdos_sum_residual: float = float("nan")  # the model's own element-sum residual, before any rescaling

    @property
    def energies_absolute(self) -> np.ndarray:
        return self.energies + self.efermi

    def to_pymatgen(self):
        """Return `(total, by_element)`: a pymatgen `Dos` and a dict symbol -> `Dos`, on absolute energies.

        They plot with pymatgen's `DosPlotter` (`add_dos("Total", total)`, `add_dos_dict(by_element)`).
        A checkpoint without a Fermi head gives energies relative to E_F (efermi = 0).
        """
        from pymatgen.electronic_structure.core import Spin
        from pymatgen.electronic_structure.dos import Dos

        if self.dos is None and not self.epdos:
            raise ValueError(f"{self.id}: this checkpoint predicts neither DOS nor EPDOS")
        efermi = float(self.efermi) if np.isfinite(self.efermi) else 0.0
        energies = self.energies + efermi
        total = None if self.dos is None else Dos(efermi, energies, {Spin.up: self.dos})
        by_element = {el: Dos(efermi, energies, {Spin.up: d}) for el, d in (self.epdos or {}).items()}
        return total, by_element

    def to_dict(self) -> dict:
        """Everything for the JSON output (lists of floats; NaN becomes null)."""
        return {
            "id": self.id,
            "source": self.source,
            "status": "ok",
            "formula": self.formula,
            "n_sites": self.n_sites,
            "n_sites_model": self.n_sites_model,
            "efermi_ev": _num(self.efermi),
            "gap_ev": _num(self.gap),
            "gap_ext_ev": _num(self.gap_ext),
            "epdos_sum_residual": _num(self.epdos_sum_residual),
            "epdos_rescaled": self.epdos_rescaled,
            "energies_ev": _arr(self.energies),
            "energies_absolute_ev": _arr(self.energies_absolute) if np.isfinite(self.efermi) else None,
            "dos": None if self.dos is None else _arr(self.dos),
            "epdos": None if self.epdos is None else {el: _arr(d) for el, d in self.epdos.items()},
        }


@dataclass
class PredictionFailure:
    """A structure that was not predicted, and why."""

    id: str
    source: str
    reason: str

    def to_dict(self) -> dict:
        return {"id": self.id, "source": self.source, "status": "failed", "error": self.reason}


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _arr(a: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(a, dtype=np.float64)]
