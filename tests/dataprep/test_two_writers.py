"""Two dataprep processes on one store (issue 13, defect 3): started together on a fresh data
folder, both come up (one crashed in the schema migration: "database is locked"); sent the same
Ingest at the same moment, the one that loses must not delete what the winner committed (its
clean-up removed the shared, content-addressed folder: ReadSplit then failed with INTERNAL
FileNotFoundError, in 10 of 25 pairs)."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from conftest import child_env, free_port, labeled_rows, stop_process, wait_serving, write_jsonl
from tuneloop.client import Client


@pytest.mark.timeout(300)
def test_two_processes_start_together_and_racing_ingests_keep_every_committed_version(tmp_path):
    import subprocess

    state, ports = tmp_path / "state", (free_port(), free_port())
    procs = [subprocess.Popen([str(Path(sys.executable).parent / "tuneloop"), "serve", "dataprep", "--data-dir",
                               str(state), "--address", f"127.0.0.1:{port}"], env=child_env(),
                              stdout=(tmp_path / f"p{port}.log").open("wb"), stderr=subprocess.STDOUT,
                              start_new_session=True) for port in ports]
    clients = [Client(f"127.0.0.1:{port}", timeout=60) for port in ports]
    try:
        for client, proc in zip(clients, procs, strict=True):
            wait_serving(client, proc)
        path = write_jsonl(tmp_path / "rows.jsonl", labeled_rows(90))

        def ingest(client, name):
            try:
                return client.dataprep.ingest(path, dataset=name)
            except grpc.RpcError as exc:
                assert exc.code() in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.ABORTED), exc
                return None

        with ThreadPoolExecutor(2) as pool:
            for i in range(12):
                name = f"d{i}"
                results = list(pool.map(ingest, clients, [name, name]))
                assert any(results), f"neither ingest of {name} succeeded"
                for client in clients:  # whoever won, the committed version reads back whole
                    version = client.dataprep.get_version(name, "")
                    rows = list(client.dataprep.read_split(name, version.version, "train"))
                    assert len(rows) == version.splits["train"] > 0
    finally:
        for client in clients:
            client.close()
        for proc in procs:
            stop_process(proc, group=True)
