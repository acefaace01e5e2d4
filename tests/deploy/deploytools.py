"""Helpers of the deployment tests: find the real tools, render the chart, split objects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "tuneloop"
CI_VALUES = CHART / "ci" / "gpu-postgres-s3-values.yaml"
RAYJOB_VALUES = CHART / "ci" / "rayjob-values.yaml"
# the cluster `helm template` renders for: one with the Prometheus Operator's CRDs (and KubeRay's)
API_VERSIONS = tuple(a for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule")
                     for a in ("--api-versions", f"monitoring.coreos.com/v1/{kind}"))
MONITORING_ON = ("--set", "monitoring.serviceMonitor.enabled=true", "--set", "monitoring.podMonitor.enabled=true",
                 "--set", "monitoring.prometheusRule.enabled=true")
BUILTIN_GROUPS = ("v1", "apps/v1", "policy/v1", "batch/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1",
                  "autoscaling/v2")


def tool(name: str) -> str:
    """The real binary (scripts/ensure-tools.sh installs them); a missing one fails the test."""
    local = ROOT / ".tools" / "bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run bash scripts/ensure-tools.sh")
    return found


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=120)


def helm_template(*extra: str, namespace: str = "ml") -> list[dict]:
    out = run(tool("helm"), "template", "rel", str(CHART), "--namespace", namespace, *API_VERSIONS, *extra).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def builtin(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["apiVersion"] in BUILTIN_GROUPS]


def deployment(objects: list[dict], service: str) -> dict:
    """The Deployment of one tuneloop service."""
    return next(d for d in by_kind(objects, "Deployment")
                if d["metadata"]["labels"]["app.kubernetes.io/component"] == service)


def ray_cluster_spec(objects: list[dict]) -> dict:
    """The Ray cluster's spec: the shared RayCluster's, or (ray.mode=rayjob) the RayJob template's."""
    clusters = by_kind(objects, "RayCluster")
    if clusters:
        return clusters[0]["spec"]
    (template,) = [c for c in by_kind(objects, "ConfigMap") if "rayjob.yaml" in c.get("data", {})]
    return yaml.safe_load(template["data"]["rayjob.yaml"])["spec"]["rayClusterSpec"]


def ray_pods(spec: dict) -> list[dict]:
    return [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]


def container_env(deployment_: dict) -> dict[str, dict]:
    """Name -> EnvVar of the Deployment's (one) container."""
    return {e["name"]: e for e in deployment_["spec"]["template"]["spec"]["containers"][0]["env"]}
