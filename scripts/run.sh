#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job. Extra arguments replace the default job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -gt 0 ]; then
  exec .venv/bin/tradespace "$@"
fi
exec .venv/bin/tradespace evaluate --target h100-sxm --workload llama-2-7b
