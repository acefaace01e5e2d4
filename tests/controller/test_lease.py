"""The leader lease on SQLite and PostgreSQL: one holder at a time, taken over only after expiry."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tuneloop.controller.store import ControllerStore


def test_one_holder_until_the_lease_expires(engine):
    a, b = ControllerStore(engine), ControllerStore(engine)
    assert a.acquire("controller", "a", ttl=0.5)
    assert not b.acquire("controller", "b", ttl=0.5)
    assert a.acquire("controller", "a", ttl=0.5)  # renewal
    time.sleep(0.7)
    assert b.acquire("controller", "b", ttl=30)  # a stopped renewing: b takes over
    assert not a.acquire("controller", "a", ttl=30)
    b.release("controller", "b")
    assert a.acquire("controller", "a", ttl=30)  # a released lease is free at once


def test_racing_replicas_elect_exactly_one(engine):
    stores = [ControllerStore(engine) for _ in range(6)]
    barrier = threading.Barrier(len(stores))

    def claim(i: int) -> bool:
        barrier.wait(timeout=30)
        return stores[i].acquire("controller", f"replica-{i}", ttl=30)

    with ThreadPoolExecutor(len(stores)) as pool:
        won = list(pool.map(claim, range(len(stores))))
    assert won.count(True) == 1


def test_one_run_per_key(engine):
    store = ControllerStore(engine)
    store.create_policy("p", {"dataset": "d", "base_model": "b", "model": "m"})
    first = store.create_run("p", key="data:abc", trigger="new_data", dataset="d@abc")
    assert first is not None
    assert store.create_run("p", key="data:abc", trigger="drift", dataset="d@abc") is None
    assert [r.id for r in store.runs("p")] == [first.id]
    assert store.advance(first, "TRAINING", job="job-1")
    assert not store.advance(first, "TRAINING", job="job-2")  # stale: it already moved
    assert store.run(first.id).job == "job-1"
