#!/usr/bin/env bash
# Create .venv (if needed) and install Tradespace with its test dependencies and the optional
# "cluster" extra (Dask, for `tradespace sweep --cluster` and its tests) and "measure" extra
# (PyTorch, for `tradespace calibrate` / `validate --host` and their tests) into it.
# Idempotent: a second run only re-checks the install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q -U "pip>=25.1"
# PyTorch for the "measure" extra: the CPU build where an index or wheel folder offers it (about
# 200 MB, seconds to install; the default CUDA build pulls ~4 GB of nvidia-* wheels); if none
# does, the install below takes whatever torch satisfies the extra
.venv/bin/python -m pip install -q "torch==${TORCH_CPU_VERSION:-2.13.0+cpu}" 2>/dev/null \
  || echo "setup.sh: no CPU build of torch ${TORCH_CPU_VERSION:-2.13.0+cpu} offered; installing the default build"
.venv/bin/python -m pip install -q -e ".[cluster,measure]" --group dev
