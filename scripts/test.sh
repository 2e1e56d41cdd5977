#!/usr/bin/env bash
# The project's test command (README and .ci/run both call this).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh
. .venv/bin/activate
export DVC_NO_ANALYTICS=1 MLFLOW_DISABLE_TELEMETRY=true
python -m pytest -q "$@"
