#!/usr/bin/env bash
# Create .venv (once) and install tuneloop into it, with the extras named in $1 (e.g. "test").
# torch, once a later service needs it, must be installed here first from its pin
# (pip install torch==2.13.0): a bare requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import tuneloop.cli" # fail here, loudly, if the install did not work
