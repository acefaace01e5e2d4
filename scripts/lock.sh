#!/usr/bin/env bash
# Write the images' lock files (requirements/*.txt): every dependency pinned, with hashes, for
# Linux x86_64 and Python 3.11, from pyproject.toml and requirements/*.in:
#   service.txt   dataprep, registry, controller: no torch, no Ray
#   ml-cpu.txt    trainer, evaluator, Ray nodes, CPU torch
#   ml-cuda.txt   the same with CUDA torch
# Ray's version is pyproject's pin, which a test holds equal to the chart's (Chart.yaml).
# Run after changing a dependency; the image build refuses a lock that disagrees (Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
common=(--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet
        --no-header --custom-compile-command "bash scripts/lock.sh")
"$uv" pip compile "${common[@]}" pyproject.toml requirements/image.in -o requirements/service.txt
"$uv" pip compile "${common[@]}" --extra ml --find-links "${TORCH_CPU_WHEELS:-/opt/wheels}" \
  --index-strategy unsafe-best-match pyproject.toml requirements/image.in requirements/torch-cpu.in \
  -o requirements/ml-cpu.txt
"$uv" pip compile "${common[@]}" --extra ml pyproject.toml requirements/image.in requirements/torch-cuda.in \
  -o requirements/ml-cuda.txt
