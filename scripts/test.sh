#!/usr/bin/env bash
# The test suite on a fresh machine: install test dependencies into .venv, make sure the
# PostgreSQL on 127.0.0.1:5432 is up (installing Debian's when absent), install the
# deployment tools (helm, kubectl, Prometheus, promtool), run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh test
bash scripts/ensure-postgres.sh
bash scripts/ensure-tools.sh
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export PATH="$PWD/.venv/bin:$PWD/.tools/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
