"""The tiny processed data sets of tests/train (real crystal graphs, made-up electron and phonon spectra), shared by
file path."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_train_conftest", Path(__file__).parents[1] / "train" / "conftest.py")
_train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_train)
tiny_dirs = _train.tiny_dirs  # noqa: F811 - re-exported fixture
phonon_dirs = _train.phonon_dirs  # noqa: F811
