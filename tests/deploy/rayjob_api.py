"""The RayJob API (ray.io/v1) as KubeRay documents it, for the fields the trainer sets: names,
types and enums, written down from KubeRay's API reference (v1.5: RayJobSpec, RayClusterSpec,
HeadGroupSpec, WorkerGroupSpec, AuthOptions). Pod templates are checked as what they are,
core/v1 PodTemplateSpecs, against the Kubernetes schema (kubernetes-validate --strict).

`check(body)` lists every problem: an unknown field, a wrong type, a value outside an enum.
"""

from __future__ import annotations

import re

import kubernetes_validate

STR, INT, BOOL, NUM, MAP, POD = "string", "int32", "boolean", "number", "map[string]string", "PodTemplateSpec"

AUTH_OPTIONS = {"mode": ("enum", ("disabled", "token")), "secretName": STR}
HEAD_GROUP = {"template": POD, "rayStartParams": MAP, "serviceType": STR, "enableIngress": BOOL,
              "headService": "object", "resources": MAP, "labels": MAP}
WORKER_GROUP = {"groupName": STR, "replicas": INT, "minReplicas": INT, "maxReplicas": INT, "idleTimeoutSeconds": INT,
                "rayStartParams": MAP, "template": POD, "suspend": BOOL, "numOfHosts": INT, "scaleStrategy": "object",
                "resources": MAP, "labels": MAP}
CLUSTER = {"rayVersion": STR, "headGroupSpec": ("struct", HEAD_GROUP), "workerGroupSpecs": ("list", WORKER_GROUP),
           "enableInTreeAutoscaling": BOOL, "autoscalerOptions": "object", "headServiceAnnotations": MAP,
           "suspend": BOOL, "managedBy": STR, "gcsFaultToleranceOptions": "object",
           "authOptions": ("struct", AUTH_OPTIONS)}
SPEC = {"entrypoint": STR, "runtimeEnvYAML": STR, "jobId": STR, "metadata": MAP, "shutdownAfterJobFinishes": BOOL,
        "ttlSecondsAfterFinished": INT, "activeDeadlineSeconds": INT, "backoffLimit": INT, "suspend": BOOL,
        "submissionMode": ("enum", ("K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode")),
        "rayClusterSpec": ("struct", CLUSTER), "clusterSelector": MAP, "submitterPodTemplate": POD,
        "submitterConfig": "object", "managedBy": STR, "deletionStrategy": "object", "entrypointNumCpus": NUM,
        "entrypointNumGpus": NUM, "entrypointResources": STR}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check(body: dict) -> list[str]:
    problems = []
    if body.get("apiVersion") != "ray.io/v1" or body.get("kind") != "RayJob":
        problems.append(f"not a ray.io/v1 RayJob: {body.get('apiVersion')} {body.get('kind')}")
    name = body.get("metadata", {}).get("name", "")
    if not _DNS_LABEL.match(name) or len(name) > 63:
        problems.append(f"metadata.name {name!r} is not a DNS label")
    for key, value in body.get("metadata", {}).get("labels", {}).items():
        if not isinstance(value, str) or len(value) > 63:
            problems.append(f"label {key}={value!r} is not a label value")
    return problems + _fields("spec", body.get("spec"), SPEC)


def _fields(where: str, value: object, fields: dict) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: want an object, got {type(value).__name__}"]
    out = []
    for key, item in value.items():
        if key not in fields:
            out.append(f"{where}.{key}: no such field in the RayJob API")
        else:
            out += _value(f"{where}.{key}", item, fields[key])
    return out


def _value(where: str, item: object, kind) -> list[str]:  # noqa: PLR0911 - one case per kind
    if isinstance(kind, tuple):
        tag, arg = kind
        if tag == "enum":
            return [] if item in arg else [f"{where}: {item!r} is not one of {arg}"]
        if tag == "struct":
            return _fields(where, item, arg)
        if not isinstance(item, list):
            return [f"{where}: want a list"]
        return [p for i, element in enumerate(item) for p in _fields(f"{where}[{i}]", element, arg)]
    simple = {STR: str, BOOL: bool, NUM: (int, float), "object": dict}
    if kind == INT:
        ok = isinstance(item, int) and not isinstance(item, bool) and -(2**31) <= item < 2**31
        return [] if ok else [f"{where}: want an int32, got {item!r}"]
    if kind == MAP:
        ok = isinstance(item, dict) and all(isinstance(v, str) for v in item.values())
        return [] if ok else [f"{where}: want a map of strings, got {item!r}"]
    if kind == POD:
        pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": item}
        try:
            kubernetes_validate.validate(pod, "1.33", strict=True)
        except kubernetes_validate.ValidationError as exc:
            return [f"{where}: {exc.message}"]
        return []
    return [] if isinstance(item, simple[kind]) and not (kind != BOOL and isinstance(item, bool)) else \
        [f"{where}: want {kind}, got {item!r}"]
