#!/usr/bin/env bash
# The main job on a fresh machine: install into .venv, then run `tuneloop demo` on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh ml
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
exec .venv/bin/tuneloop demo "$@"
