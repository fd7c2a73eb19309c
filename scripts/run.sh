#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job: the dashboard on http://localhost:5006/roofline.
# Extra arguments replace the default job (e.g. `bash scripts/run.sh evaluate --target h100-sxm --workload llama-2-7b`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -gt 0 ]; then
  exec .venv/bin/tradespace "$@"
fi
exec .venv/bin/tradespace serve
