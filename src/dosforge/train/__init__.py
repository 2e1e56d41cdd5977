"""Training: presets, the loop with paper-style model selection, checkpoints/resume, MLflow, inference.

Public API:
- `resolve_train_config(section) -> TrainConfig`, `PRESETS`
- `run_training(params, processed_dir=, split_dir=, out_dir=, variant=, tracker=)`: one model directory
- `train_model(...)`: the loop itself; `selection_rule(tasks)`; `TrainingDiverged` (NaN/inf, with model and epoch)
- `load_model(path) -> (model, normalizer, meta)`, `predict_split(model_or_path, processed, ids) -> Predictions`
- `Tracker`: one MLflow run per model
"""

from dosforge.train.checkpoint import load_model
from dosforge.train.config import PRESETS, TrainConfig, resolve_train_config
from dosforge.train.inference import predict_split
from dosforge.train.loop import TrainingDiverged, selection_rule, train_model
from dosforge.train.tracking import Tracker

__all__ = [
    "PRESETS",
    "TrainConfig",
    "Tracker",
    "TrainingDiverged",
    "load_model",
    "predict_split",
    "resolve_train_config",
    "selection_rule",
    "train_model",
]
