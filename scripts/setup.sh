#!/usr/bin/env bash
# Create .venv (if needed) and install Tradespace with its test dependencies and the optional
# "cluster" extra (Dask, for `tradespace sweep --cluster` and its tests) into it.
# Idempotent: a second run only re-checks the install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q -U "pip>=25.1"
.venv/bin/python -m pip install -q -e ".[cluster]" --group dev
