"""Label diamond Si and C with the default phonon params and print what the data card compares with experiment.

python scripts/check_phonon_labels.py     # ~1 minute on one core; SYNTHETIC labels (CHGNet + phonopy)
"""

from __future__ import annotations

import numpy as np

from dosforge.config import load_params
from dosforge.phonon.label import LabelParams, label_phonons
from dosforge.sources.embedded import entry_structure, load_bundle
from dosforge.sources.embedded_phonon import SELECTION_KEYS

EXPERIMENT = {"proto-A4-Si": "Raman 520 cm^-1", "proto-A4-C": "Raman 1332 cm^-1"}


def main() -> None:
    cfg = load_params().get("phonon_labels") or {}
    params = LabelParams.from_dict({k: v for k, v in cfg.items() if k not in SELECTION_KEYS})
    bundle = {e["id"]: e for e in load_bundle()}
    for entry_id, real in EXPERIMENT.items():
        label = label_phonons(entry_structure(bundle[entry_id]), params)
        f, g = label.frequencies_cm, label.total
        a_conv = label.relaxed.lattice.abc[0] * 2**0.5  # fcc primitive vector -> cubic lattice constant
        print(
            f"{entry_id}: a = {a_conv:.3f} A, highest mode {label.max_frequency_cm:.0f} cm^-1, "
            f"DOS peak {f[np.argmax(g)]:.0f} cm^-1, modes {np.trapezoid(g, f):.4f} (3N = {3 * len(label.relaxed)}), "
            f"lowest {label.min_frequency_cm:.2f} cm^-1; experiment: {real}"
        )


if __name__ == "__main__":
    main()
