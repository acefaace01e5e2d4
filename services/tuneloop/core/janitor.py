"""Collecting what failed writes left in storage, at start and on a schedule.

A write that fails cleans up after itself, but a killed process cannot: an upload's temporary
file, a blob a half-done upload committed before its version row, a dataset folder whose row
never came. Each store lists its own orphans (`collect(grace)`); files younger than the grace
period are kept, so a write in flight is never taken for an orphan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def every(name: str, collect: Callable[[], dict[str, int]], seconds: float) -> Callable[[], None]:
    """Run `collect` now (on a thread: start-up does not wait) and every `seconds`; returns stop."""
    stop = threading.Event()

    def run() -> None:
        while True:
            try:
                removed = collect()
                if any(removed.values()):
                    log.info("%s: removed %s", name, ", ".join(f"{n} {what}" for what, n in removed.items()))
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("%s: garbage collection failed", name)
            if stop.wait(seconds):
                return

    threading.Thread(target=run, name=f"janitor-{name}", daemon=True).start()
    return stop.set
