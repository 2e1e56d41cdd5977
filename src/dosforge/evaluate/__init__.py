"""Evaluation: the metric contract per model, the appendix A.4 gap check, the report, plots and MLflow copy."""

from dosforge.evaluate.gap_validation import validate_gap_extraction
from dosforge.evaluate.run import EvaluationResult, evaluate_models

__all__ = ["EvaluationResult", "evaluate_models", "validate_gap_extraction"]
