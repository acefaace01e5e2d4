"""Calls spread over every server behind one name, and survive one server going away (issue 14).

On Kubernetes a ClusterIP Service pins a client's one HTTP/2 connection, so every call, to one
pod; the chart gives each component a headless Service (one DNS address per pod) and the client
balances round-robin over the addresses, retrying UNAVAILABLE. Here three real registry
processes listen on 127.0.0.1, .2 and .3 (all loopback on Linux), and the client is given the
three addresses as one target (gRPC's `ipv4:` resolver stands in for DNS: the same list of
addresses reaches the same round_robin policy). Each server's own Prometheus counter says how
many calls it answered.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import child_env, free_port, stop_process, wait_until
from tuneloop.client import Client

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def handled(host: str, port: int) -> int:
    """ListModels calls the registry at host:port answered OK, by its own /metrics."""
    text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10).read().decode()
    return int(sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "tuneloop_grpc_requests_total" and s.labels.get("method") == "ListModels"
                   and s.labels.get("code") == "OK"))


@pytest.mark.timeout(300)
def test_calls_spread_round_robin_over_every_server_and_retry_past_a_dead_one(tmp_path):
    grpc_port, metrics_port = free_port(), free_port()
    db = f"sqlite:///{tmp_path / 'registry.db'}"
    procs = []
    for i, host in enumerate(HOSTS):
        procs.append(subprocess.Popen(
            [str(Path(sys.executable).parent / "tuneloop"), "serve", "registry", "--data-dir", str(tmp_path / f"s{i}"),
             "--address", f"{host}:{grpc_port}", "--metrics-port", str(metrics_port)],
            env=child_env(TUNELOOP_DATABASE_URL=db, TUNELOOP_METRICS_HOST=host,
                          TUNELOOP_ARTIFACT_URL=str(tmp_path / "artifacts")),
            stdout=(tmp_path / f"s{i}.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True))
    client = Client("ipv4:" + ",".join(f"{host}:{grpc_port}" for host in HOSTS), timeout=30)
    try:
        for i, host in enumerate(HOSTS):  # each one up (its first call counts one)
            with Client(f"{host}:{grpc_port}", timeout=5) as alone:
                wait_until(f"the registry on {host}", lambda c=alone, p=procs[i]: p.poll() is None and
                           c.registry.list_models() is not None, timeout=120, every=0.3, ignore=(grpc.RpcError,))
        base = [handled(host, metrics_port) for host in HOSTS]
        for _ in range(60):
            client.registry.list_models()
        counts = [handled(host, metrics_port) - b for host, b in zip(HOSTS, base, strict=True)]
        assert sum(counts) == 60
        assert min(counts) >= 10, f"calls did not spread: {counts}"  # round robin: about 20 each

        stop_process(procs[0])  # one pod goes away: no call may fail
        for _ in range(30):
            client.registry.list_models()
        after = [handled(host, metrics_port) - b for host, b in zip(HOSTS[1:], base[1:], strict=True)]
        assert sum(after) - sum(counts[1:]) == 30
        assert min(b - a for a, b in zip(counts[1:], after, strict=True)) >= 5, (counts, after)
    finally:
        client.close()
        for proc in procs:
            stop_process(proc, group=True)
