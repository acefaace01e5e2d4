"""Dynamic micro-batching for one loaded model version: requests from every caller queue here,
and one thread runs them in batches of up to `max_batch`, sorted by size inside a batch so that
padding stays small. A batch waits up to `max_wait` seconds after its first request for others
to join, but only while callers overlap (its first request arrived while the last batch ran, or
the last batch held several): a lone caller on an idle model is answered at once, with no wait
for company that is not coming.

The queue is bounded: past `max_queue` waiting requests a submit is refused with
RESOURCE_EXHAUSTED at once, so an overload never grows memory or latency without bound. A
failed batch fails each of its requests with the same error; the thread goes on.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from tuneloop.errors import ResourceExhausted, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchLimits:
    max_batch: int = 32
    max_wait: float = 0.005  # seconds a batch waits for more after its first request
    max_queue: int = 256


class Batcher:
    def __init__(self, name: str, run: Callable[[list], list], limits: BatchLimits,
                 on_batch: Callable[[int], None] | None = None) -> None:
        """`run(items)` answers a batch, in order; `on_batch(size)` sees each one."""
        self.name = name
        self.run = run
        self.limits = limits
        self.on_batch = on_batch
        self.batches = 0
        self.requests = 0
        self._last_size = 0  # of the last batch: more than 1 means callers overlap, so waiting pays
        self._last_end = 0.0  # when the last batch was answered (monotonic)
        self._queue: queue.Queue[tuple[object, Future, float] | None] = queue.Queue(maxsize=limits.max_queue)
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def submit(self, item: object) -> Future:
        """Queue one item; its future gets the answer (or the batch's error)."""
        if self._closed:
            raise Unavailable(f"{self.name} is unloading; retry")
        future: Future = Future()
        try:
            self._queue.put_nowait((item, future, time.monotonic()))
        except queue.Full:
            raise ResourceExhausted(f"{self.name} has {self.limits.max_queue} requests waiting already (the "
                                    "serving queue bound); retry later or add replicas") from None
        return future

    def close(self, timeout: float = 60) -> None:
        """Answer what is queued, then stop the thread."""
        self._closed = True
        with contextlib.suppress(queue.Full):  # else the thread sees `_closed` once the queue is drained
            self._queue.put_nowait(None)
        if threading.current_thread() is not self._thread:  # closed from an answer's callback: no self-join
            self._thread.join(timeout)

    def _take(self) -> tuple[list, bool]:
        """The next batch, and whether the queue's end (close) was reached."""
        while True:
            try:
                first = self._queue.get(timeout=0.5)
                break
            except queue.Empty:
                if self._closed:
                    return [], True
        if first is None:
            return [], True
        batch = [first]
        overlap = self._last_size > 1 or first[2] <= self._last_end  # it queued while the last batch ran
        deadline = time.monotonic() + (self.limits.max_wait if overlap else 0.0)
        while len(batch) < self.limits.max_batch:
            left = deadline - time.monotonic()
            try:
                nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _loop(self) -> None:
        done = False
        while not done:
            taken, done = self._take()
            batch = [(item, f) for item, f, _arrived in taken if f.set_running_or_notify_cancel()]
            if not batch:
                continue
            batch.sort(key=lambda pair: getattr(pair[0], "size", 0))
            self._last_size = len(batch)
            try:
                answers = self.run([item for item, _ in batch])
            except Exception as exc:  # every waiting caller gets the error; the thread serves on
                log.exception("a batch of %d for %s failed", len(batch), self.name)
                for _, future in batch:
                    future.set_exception(exc)
                continue
            finally:
                self._last_end = time.monotonic()
                self.batches += 1
                self.requests += len(batch)
            if self.on_batch:
                self.on_batch(len(batch))
            for (_, future), answer in zip(batch, answers, strict=True):
                future.set_result(answer)
