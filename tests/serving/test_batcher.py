"""The micro-batcher on its own: batches form from concurrent submits up to the size limit,
sorted by size; a full queue refuses at once; a failed batch fails each of its requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import grpc
import pytest

from tuneloop.serving.batcher import Batcher, BatchLimits


@dataclass
class Req:
    size: int


def test_submits_waiting_together_run_as_one_batch_sorted_by_size():
    seen: list[list[int]] = []
    gate = threading.Event()

    def run(items):
        gate.wait(30)  # the first batch holds the thread while the others queue
        seen.append([i.size for i in items])
        return [i.size * 10 for i in items]

    batcher = Batcher("t", run, BatchLimits(max_batch=4, max_wait=0.5, max_queue=100))
    try:
        first = [batcher.submit(Req(9)), batcher.submit(Req(8))]
        futures = [batcher.submit(Req(s)) for s in (5, 1, 3, 2, 4, 6)]
        gate.set()
        assert [f.result(10) for f in first + futures] == [90, 80, 50, 10, 30, 20, 40, 60]  # each its own answer
    finally:
        batcher.close()
    # whatever the first batch took, the rest queued behind it and ran 4 at a time, each sorted
    assert sum(map(len, seen)) == 8 and max(map(len, seen)) == 4
    assert all(b == sorted(b) for b in seen) and batcher.batches == len(seen) and batcher.requests == 8


def test_a_lone_request_on_an_idle_model_does_not_wait_for_company():
    """max_wait is an hour: answered at all means it did not wait (a batch waits only while callers
    overlap: its first request queued while the last batch ran, or the last batch held several)."""
    batcher = Batcher("t", lambda items: [i.size for i in items], BatchLimits(max_batch=8, max_wait=3600,
                                                                               max_queue=10))
    try:
        assert [batcher.submit(Req(n)).result(30) for n in (1, 2, 3)] == [1, 2, 3]
    finally:
        batcher.close()


def test_past_the_queue_bound_a_submit_is_refused_at_once():
    release = threading.Event()
    started = threading.Event()

    def slow(items):
        started.set()
        release.wait(30)
        return items

    batcher = Batcher("t", slow, BatchLimits(max_batch=1, max_wait=0, max_queue=2))
    try:
        first = batcher.submit(Req(1))
        assert started.wait(10)  # running: the queue is empty again
        queued = [batcher.submit(Req(2)), batcher.submit(Req(3))]
        with pytest.raises(grpc.RpcError) as err:
            batcher.submit(Req(4))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "2 requests waiting" in err.value.details()
        release.set()
        assert [f.result(10).size for f in (first, *queued)] == [1, 2, 3]
    finally:
        release.set()
        batcher.close()


def test_a_failed_batch_fails_each_request_and_the_batcher_serves_on():
    calls = []

    def flaky(items):
        calls.append(len(items))
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return items

    batcher = Batcher("t", flaky, BatchLimits(max_batch=8, max_wait=0.2, max_queue=10))
    try:
        doomed = [batcher.submit(Req(1)), batcher.submit(Req(2))]
        for f in doomed:
            with pytest.raises(RuntimeError, match="out of memory"):
                f.result(10)
        assert batcher.submit(Req(3)).result(10).size == 3
    finally:
        batcher.close()
    with pytest.raises(grpc.RpcError) as err:
        batcher.submit(Req(4))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
