"""preprocess: raw records -> gridded DOS/EPDOS, point groups, crystal graphs, HDF5 shards, rejects with reasons."""

from dosforge.preprocess.pipeline import preprocess
from dosforge.preprocess.validate import REASONS

__all__ = ["preprocess", "REASONS"]
