"""Orthogonal two-centre Slater-Koster tight binding: the synthetic labeller of the `embedded` source.

See docs/data_card.md for what these labels are (and are not)."""

from dosforge.tb.label import GENERATOR_VERSION, TBLabel, TBParams, label_structure, to_raw_record

__all__ = ["GENERATOR_VERSION", "TBLabel", "TBParams", "label_structure", "to_raw_record"]
