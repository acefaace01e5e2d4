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
    batcher = Batcher("t", lambda items: seen.append([i.size for i in items]) or [i.size * 10 for i in items],
                      BatchLimits(max_batch=4, max_wait=0.5, max_queue=100))
    try:
        futures = [batcher.submit(Req(s)) for s in (5, 1, 3, 2, 4, 6)]
        assert [f.result(10) for f in futures] == [50, 10, 30, 20, 40, 60]  # each its own answer
    finally:
        batcher.close()
    assert seen[0] == [1, 2, 3, 5] and sum(map(len, seen)) == 6 and max(map(len, seen)) == 4
    assert batcher.batches == len(seen) and batcher.requests == 6


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
