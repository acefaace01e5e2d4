"""What failed or killed writes leave in storage is collected (issue 13, defect 8): ten uploads
failing at their second file left their first files' blobs and an empty model; a SIGKILL leaves
`blobs/incoming/upload.tmp-*` and, mid-ingest, a dataset folder with no version. The janitor
removes them once older than the grace period (at start and on a schedule), and never what a
version holds."""

from __future__ import annotations

import io

import grpc
import pytest

from conftest import labeled_rows, wait_until, write_jsonl
from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.client.registry import Source
from tuneloop.core.settings import ServerSettings


def _files(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_failed_and_killed_writes_leave_nothing_once_collected(tmp_path):
    state = tmp_path / "state"
    settings = ServerSettings(data_dir=state, address="127.0.0.1:0", shutdown_grace_seconds=1)
    server = start(settings, ["dataprep", "registry"])
    with Client(f"127.0.0.1:{server.port}", timeout=60) as client:
        (tmp_path / "keep").mkdir()
        (tmp_path / "keep" / "config.json").write_text('{"kept": true}')
        client.registry.upload_dir(tmp_path / "keep", model="kept")
        dataset = client.dataprep.ingest(write_jsonl(tmp_path / "d.jsonl", labeled_rows(60)), dataset="d")
        kept_blobs, kept_datasets = _files(state / "artifacts" / "blobs"), _files(state / "artifacts" / "datasets")
        for i in range(10):  # the second file declares 200 bytes and sends 100: the upload fails there
            sources = [Source("a.json", 10_001, lambda i=i: io.BytesIO(b"x" * 10_000 + str(i)[-1:].encode())),
                       Source("b.json", 200, lambda: io.BytesIO(b"y" * 100))]
            with pytest.raises(grpc.RpcError) as err:
                client.registry.upload_files(sources, model=f"broken{i}")
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [m.name for m in client.registry.list_models()] == ["kept"], "a failed upload left an empty model"
    server.stop()
    orphans = _files(state / "artifacts" / "blobs") - kept_blobs
    assert len(orphans) >= 10, "expected the failed uploads' first files as orphans"
    incoming = state / "artifacts" / "blobs" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / "upload.tmp-killed").write_bytes(b"half an upload")  # what a SIGKILL leaves
    (state / "artifacts" / "datasets" / "d" / "0123abcd-killed").mkdir(parents=True)
    (state / "artifacts" / "datasets" / "d" / "0123abcd-killed" / "train.parquet").write_bytes(b"PAR1 half")

    server = start(settings.model_copy(update={"gc_grace_seconds": 0.0}), ["dataprep", "registry"])
    try:
        wait_until("the orphans collected", lambda: _files(state / "artifacts" / "blobs") == kept_blobs
                   and _files(state / "artifacts" / "datasets") == kept_datasets, timeout=30, every=0.2)
        with Client(f"127.0.0.1:{server.port}", timeout=60) as client:
            client.registry.download("kept@1", tmp_path / "back")
            assert (tmp_path / "back" / "config.json").read_text() == '{"kept": true}'
            rows = list(client.dataprep.read_split("d", dataset.version, "train"))
            assert len(rows) == dataset.splits["train"]
    finally:
        server.stop()
