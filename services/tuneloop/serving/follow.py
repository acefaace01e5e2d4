"""Following the registry's event stream for serving: when an alias that this replica routes
moves or is deleted, its route is resolved again (`ServingCore.on_alias`), which loads the new
version beside the old one before switching.

The stream is followed for good from a cursor: after a break (the registry restarting, a
network cut) it resumes after the last event seen, so no move is missed. Routes made before
the first cursor was known are checked once against the registry when it is.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuneloop.client.base import Stream
    from tuneloop.serving.core import ServingCore

log = logging.getLogger(__name__)


class Follower:
    def __init__(self, core: ServingCore) -> None:
        self.core = core
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: Stream | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="serving-follow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.cancel()
        if self._thread is not None:
            self._thread.join(30)

    def _follow(self) -> None:
        cursor: int | None = None
        backoff = 0.5
        while not self._stop.is_set():
            try:
                registry = self.core.client().registry
                if cursor is None:
                    cursor = max((r.event.id for r in registry.watch_events(0)), default=0)
                    for key in self.core.alias_routes():  # routed before the cursor was known
                        self.core.refresh(key)
                self._stream = stream = registry.watch_events(cursor, follow=True)
                for response in stream:
                    event = response.event
                    cursor = event.id
                    backoff = 0.5
                    if event.type in ("alias_moved", "alias_deleted"):
                        self.core.on_alias(f"{event.model}:{event.alias}")
                    elif event.type == "tags_changed":  # a canary's share is its tag
                        self.core.traffic.on_tags(event.model)
            except Exception:  # the registry is away or restarting: resume from the cursor
                if self._stop.is_set():
                    return
                log.warning("following the registry's events failed; retrying in %.1f s", backoff, exc_info=True)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)
