#!/usr/bin/env bash
# Build tuneloop's images on this machine with Docker, and print their sizes:
#   tuneloop:dev         (LOCK=service)  dataprep, registry, controller
#   tuneloop-ml:dev      (LOCK=ml-cpu)   trainer, evaluator, Ray nodes
#   tuneloop-ml:dev-cuda (LOCK=ml-cuda)  only with CUDA=1 (several GB of CUDA wheels)
# No container registry is reachable here, so the base is made from Debian's packages
# (debootstrap + docker import: python3 and its venv, as the official python image has),
# once; BASE_IMAGE=python:3.11-slim-bookworm uses the official one instead. The CPU torch
# wheel (not on PyPI) and the proxy's CA (where HTTPS goes through one) are put in the build
# context's requirements/local/. Needs a running Docker engine (see docs/images.md).
set -euo pipefail
cd "$(dirname "$0")/.."
base="${BASE_IMAGE:-tuneloop-base:bookworm}"
tag="${TAG:-dev}"
if [ "$base" = tuneloop-base:bookworm ] && ! docker image inspect "$base" >/dev/null 2>&1; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  echo "making $base from Debian's packages (debootstrap)..."
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" \
    "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import - "$base" >/dev/null
fi
mkdir -p requirements/local
torch_wheel=$(find "${TORCH_CPU_WHEELS:-/opt/wheels}" -name 'torch-2.13.0+cpu-cp311-*.whl' 2>/dev/null | head -1)
if [ -n "$torch_wheel" ]; then cp -u "$torch_wheel" requirements/local/; fi
ca="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"  # this host's trust, proxy CA included
if [ -f "$ca" ]; then cp "$ca" requirements/local/ca.crt; fi
build() {  # LOCK TAG
  local start=$SECONDS
  docker build --network host --build-arg BASE_IMAGE="$base" --build-arg LOCK="$1" --build-arg TORCH_INDEX= \
    -t "$2" . >"/tmp/tuneloop-build-$1.log" 2>&1 || { tail -40 "/tmp/tuneloop-build-$1.log"; exit 1; }
  printf '%-24s %-8s built in %4ss, %s\n' "$2" "$1" $((SECONDS - start)) \
    "$(docker image inspect -f '{{.Size}}' "$2" | awk '{printf "%.0f MB", $1 / 1e6}')"
}
build service "tuneloop:$tag"
build ml-cpu "tuneloop-ml:$tag"
if [ "${CUDA:-0}" = 1 ]; then build ml-cuda "tuneloop-ml:$tag-cuda"; fi
