"""Write `phonon_dos_responses.json`: what `materials.phonon.get_dos_from_material_id(id, "dfpt")` returns.

mp-api 0.46.5 returns emmet-core's `PhononDOS` document (structure, frequencies in THz, densities,
per-site projected densities). MP is not reachable here, so the *values* are a Debye model
g(f) = 9N f^2 / f_D^3 below f_D (3N modes, split evenly over the sites) on the structures of
`summary_search.json`, not a capture; the *shape* is the document model's own `model_dump(mode="json")`.

    python tests/sources/recorded/make_phonon_dos_responses.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from emmet.core.phonon import PhononDOS
from pymatgen.core import Structure

HERE = Path(__file__).resolve().parent
DEBYE_THZ = {"mp-149": 15.5, "mp-804": 22.0}  # roughly the top optical modes of Si and GaN


def debye_doc(structure: Structure, f_debye: float) -> dict:
    f = np.round(np.linspace(0.0, f_debye + 1.0, 121), 6)
    n = len(structure)
    g = np.where(f <= f_debye, 9 * n * f**2 / f_debye**3, 0.0)
    doc = PhononDOS(
        structure=structure,
        frequencies=f.tolist(),
        densities=g.tolist(),
        projected_densities=[(g / n).tolist() for _ in range(n)],
    )
    return doc.model_dump(mode="json")


def main() -> None:
    docs = {d["material_id"]: d for d in json.loads((HERE / "summary_search.json").read_text())["docs"]}
    out = {
        "mp_api_version": "0.46.5",
        "call": "MPRester().materials.phonon.get_dos_from_material_id(material_id, phonon_method='dfpt')",
        "values": "Debye model on the summary structures (not MP data): see make_phonon_dos_responses.py",
        "dos": {mid: debye_doc(Structure.from_dict(docs[mid]["structure"]), fd) for mid, fd in DEBYE_THZ.items()},
        "errors": {
            "no_phonon": "No phonon dos data found for material ID: mp-0 and phonon method: dfpt.",
            "rate_limit": "REST query returned with error status code 429 on URL "
            "https://api.materialsproject.org/materials/phonon/ with message:\nToo Many Requests",
        },
    }
    (HERE / "phonon_dos_responses.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
