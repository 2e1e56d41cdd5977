"""Launching many trainings at once: the ablation table (and seed@ stages) fanned out over devices or SLURM.

Public API:
- `fanout(targets, root=, jobs=, devices=, executor=, then=)`: prerequisites, the stages N at a time, then evaluate
- `select_stages(root, targets)`, `upstream_stages(root, stages)`: stage names from dvc.yaml
- `MlflowServer`: one `mlflow server` in front of the project's sqlite store for the duration of a fan-out
"""

from dosforge.launch.fanout import FanoutError, fanout
from dosforge.launch.mlflow_server import MlflowServer
from dosforge.launch.stages import select_stages, upstream_stages

__all__ = ["FanoutError", "MlflowServer", "fanout", "select_stages", "upstream_stages"]
