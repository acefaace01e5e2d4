"""The chart's prometheus-operator objects against the operator's CRD schemas (the
validators of npm @kubernetes-models/prometheus-operator, run by node)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
from deploytools import CI_VALUES, MONITORING_ON, ROOT, helm_template, tool

MODELS = ROOT / ".tools" / "node" / "node_modules"
SCRIPT = Path(__file__).parent / "validate_crds.mjs"


def validate(objects: list[dict]) -> subprocess.CompletedProcess:
    if not (MODELS / "@kubernetes-models" / "prometheus-operator").is_dir():
        pytest.fail("the prometheus-operator models are not installed: run bash scripts/ensure-tools.sh")
    return subprocess.run([tool("node"), str(SCRIPT), str(MODELS)], input=json.dumps(objects), capture_output=True,
                          text=True, timeout=120)


def monitoring(*extra: str) -> list[dict]:
    kinds = ("ServiceMonitor", "PodMonitor", "PrometheusRule")
    return [o for o in helm_template(*MONITORING_ON, *extra) if o["kind"] in kinds]


@pytest.mark.parametrize("extra", [(), ("-f", str(CI_VALUES))], ids=["defaults", "gpu-postgres-s3"])
def test_servicemonitors_and_rules_match_the_operator_schema(extra):
    objects = monitoring(*extra)
    assert len(objects) == 8  # a ServiceMonitor per service (6), the PodMonitor of Ray, the rules
    result = validate(objects)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == 8


def test_the_validator_rejects_a_wrong_object():
    objects = monitoring()
    broken = copy.deepcopy(next(o for o in objects if o["kind"] == "ServiceMonitor"))
    broken["spec"]["endpoints"][0]["interval"] = 30  # a number where the CRD wants a duration string
    result = validate([broken])
    assert result.returncode == 1 and "must be string" in result.stdout, result.stdout + result.stderr
