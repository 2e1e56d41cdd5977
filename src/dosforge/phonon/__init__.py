"""Phonon DOS: the second spectrum kind (`data.spectrum: phonon`, DOSTransformer supplement A.1).

Raw phonon records hold frequencies in cm^-1 and densities in states per cm^-1 per cell, so the
total integrates to 3N (N sites of the cell). Sources report in THz (phonopy, pymatgen `PhononDos`)
and are converted once, here.
"""

THZ_TO_CM = 33.35640951981521  # 1 THz in cm^-1 (c = 299792458 m/s)
FREQUENCY_UNIT = "cm^-1"
DENSITY_UNIT = "states/cm^-1 per cell"
