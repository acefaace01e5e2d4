"""The plain manifests: k8s/base is the chart's defaults (regenerated and compared), and
both the base and the example overlay render with the real `kubectl kustomize` into
objects that pass the strict Kubernetes schema."""

from __future__ import annotations

import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from deploytools import ROOT, builtin, by_kind, run, tool

K8S_VERSION = "1.33"


def kustomize(path: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(run(tool("kubectl"), "kustomize", str(ROOT / path)).stdout) if d]


def test_the_base_is_the_charts_defaults():
    tool("helm")  # the generator renders the chart with it
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_k8s.py"), "--check"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", ["k8s/base", "k8s/overlays/example"])
def test_kustomize_renders_objects_that_pass_the_strict_schema(path):
    objects = kustomize(path)
    assert len(by_kind(objects, "Deployment")) == 6 and len(by_kind(objects, "RayCluster")) == 1
    for obj in builtin(objects):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_overlay_moves_namespace_image_and_replicas_everywhere():
    objects = kustomize("k8s/overlays/example")
    assert {o["metadata"]["namespace"] for o in objects} == {"ml-platform"}
    images = [c["image"] for d in by_kind(objects, "Deployment") for c in d["spec"]["template"]["spec"]["containers"]]
    (cluster,) = by_kind(objects, "RayCluster")
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    images += [c["image"] for g in groups for c in g["template"]["spec"]["containers"]]
    service, ml = "registry.example.com/ml/tuneloop:0.1.0", "registry.example.com/ml/tuneloop-ml:0.1.0"
    assert sorted(images) == sorted([service] * 3 + [ml] * 5 + [ml + "-cuda"]), images
    controller = next(d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "tuneloop-controller")
    assert controller["spec"]["replicas"] == 3
    assert cluster["spec"]["workerGroupSpecs"][1]["replicas"] == cluster["spec"]["workerGroupSpecs"][1]["maxReplicas"] == 1
