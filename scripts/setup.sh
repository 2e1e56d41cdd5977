#!/usr/bin/env bash
# Creates .venv and installs DOSForge with everything it needs, on a fresh machine.
# PyTorch: an existing torch in the chosen Python is kept (your own CUDA/ROCm build);
# otherwise torch==2.13.0 is installed first, so nothing later pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m venv --system-site-packages .venv  # see the torch build that is already installed
  else
    "$PY" -m venv .venv
  fi
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  python -m pip install -q "torch==${DOSFORGE_TORCH_VERSION:-2.13.0}"
fi
# Exact versions (scripts/constraints.txt): the same data and numbers on every fresh machine; DOSFORGE_UNPINNED=1 for
# another Python or your own versions.
pins=(-c scripts/constraints.txt)
[ "${DOSFORGE_UNPINNED:-0}" = 1 ] && pins=()
python -m pip install -q "${pins[@]}" -e ".[dev]"
export DVC_NO_ANALYTICS=1
if [ ! -d .dvc ] && [ -d .git ]; then dvc init -q; fi
echo "DOSForge environment ready: . .venv/bin/activate"
