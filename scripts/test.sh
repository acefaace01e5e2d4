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
# Every temporary file of the run (pytest's tmp_path, Ray's sessions and spilled objects, model
# copies) goes under one folder that is removed at the end, pass or fail: on a machine that runs
# the suite again and again, leftovers would fill the disk. Short, for Ray's socket paths.
TMPDIR="$(mktemp -d /tmp/tl-XXXXXX)"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
echo "disk before the tests: $(df -h --output=avail /tmp | tail -1 | tr -d ' ') free under /tmp"
status=0
.venv/bin/python -m pytest "$@" || status=$?
echo "disk after the tests: $(df -h --output=avail /tmp | tail -1 | tr -d ' ') free; this run's temporary files: $(du -sh "$TMPDIR" 2>/dev/null | cut -f1)"
exit "$status"
