"""Long-lived streams never starve other calls (issue 13, defect 1).

Seven idle `WatchEvents(follow)` streams, or seven uploads that sent their header and wait,
took every worker thread of a server with 8: every other call, health included, then hit
DEADLINE_EXCEEDED. Streams now have threads of their own (up to a limit, past which they get
RESOURCE_EXHAUSTED), and an upload that sends nothing for a while is ended.
"""

from __future__ import annotations

import contextlib
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import wait_until
from tuneloop.app import start
from tuneloop.core.settings import ServerSettings
from tuneloop.v1 import dataprep_pb2, dataprep_pb2_grpc, registry_pb2, registry_pb2_grpc


@contextlib.contextmanager
def server_stopped(server):
    try:
        yield server
    finally:
        server.stop()


def _stalled_upload(release: threading.Event):
    yield dataprep_pb2.IngestRequest(header=dataprep_pb2.IngestHeader(dataset="stalled"))
    release.wait(120)


@pytest.mark.timeout(180)
def test_fifty_idle_watchers_and_twenty_stalled_uploads_leave_health_and_unary_calls_answering(server_factory):
    server = server_factory(upload_idle_seconds=60)
    release = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        registry = registry_pb2_grpc.RegistryServiceStub(channel)
        dataprep = dataprep_pb2_grpc.DataprepServiceStub(channel)
        watchers = [registry.WatchEvents(registry_pb2.WatchEventsRequest(follow=True)) for _ in range(50)]
        uploads = [dataprep.Ingest.future(_stalled_upload(release)) for _ in range(20)]
        try:
            for _ in range(3):
                health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                assert health.status == health_pb2.HealthCheckResponse.SERVING
                assert dataprep.ListDatasets(dataprep_pb2.ListDatasetsRequest(), timeout=1).datasets == []
            assert not any(u.done() for u in uploads), "a stalled upload ended before its idle limit"
        finally:
            release.set()
            for w in watchers:
                w.cancel()
            for u in uploads:
                u.cancel()


def test_streams_past_the_per_client_limit_are_refused_and_a_slot_frees_when_one_ends(tmp_path):
    # the registry alone: a hosted controller's own watch would be one more stream from 127.0.0.1
    server = start(ServerSettings(data_dir=tmp_path, address="127.0.0.1:0", shutdown_grace_seconds=1,
                                  max_streams_per_client=3), ["registry"])
    with server_stopped(server), grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        registry = registry_pb2_grpc.RegistryServiceStub(channel)
        # one event, so that each stream answers once it is held: reading it proves the server counts that
        # stream before the next opens (probing while they connected raced: a probe could take the third
        # stream's slot, refusing it, and no probe was ever refused after that; seen once in CI)
        registry.CreateModel(registry_pb2.CreateModelRequest(name="m"), timeout=30)
        open_ = []
        for _ in range(3):
            open_.append(registry.WatchEvents(registry_pb2.WatchEventsRequest(follow=True), timeout=120))
            assert next(open_[-1]).event.type == "model_created"

        def another_opens() -> tuple[bool, str]:
            try:
                list(registry.WatchEvents(registry_pb2.WatchEventsRequest(follow=False), timeout=5))
                return True, ""
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
                return False, exc.details()

        opened, refused = another_opens()
        assert not opened and "3 open streams" in refused, refused
        open_.pop().cancel()
        wait_until("a freed stream slot", lambda: another_opens()[0], timeout=10, every=0.2)
        for stream in open_:
            stream.cancel()


def test_an_upload_that_sends_nothing_is_ended_after_its_idle_limit(server_factory):
    server = server_factory(upload_idle_seconds=1)
    release = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        dataprep = dataprep_pb2_grpc.DataprepServiceStub(channel)
        try:
            with pytest.raises(grpc.RpcError) as err:
                dataprep.Ingest(_stalled_upload(release), timeout=30)
        finally:
            release.set()
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no data for 1 s" in err.value.details()
