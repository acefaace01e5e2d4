"""Following an ordered event log: the one loop behind every Watch* stream.

The registry's events, a training job's events and the controller's run events are rows
with increasing ids. A watcher reads the rows after its cursor in batches; with `follow`
it then waits on the service's condition (notified on every change, or woken by the poll
interval, so a change made by another process is seen too) and reads again, until the
caller leaves (`active()` false) or the log is finished (a job that ended).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def follow_log(fetch: Callable[[int], Sequence[T]], position: Callable[[T], int], *, after: int, follow: bool,
               active: Callable[[], bool], changed: threading.Condition, poll_seconds: float,
               finished: Callable[[], bool] = lambda: False) -> Iterator[T]:
    """Every item after `after`, in order; with `follow`, then new ones as they come."""
    cursor = after
    while active():
        batch = fetch(cursor)
        yield from batch
        if batch:
            cursor = position(batch[-1])
            continue
        if not follow or finished():
            return
        with changed:
            changed.wait(poll_seconds)
