"""Canary and shadow traffic: a model's `canary` and `shadow` aliases ride along its default route.

A request to `MODEL` (`MODEL:champion`) is answered by `MODEL:canary` instead, with the share the
canary version's `canary_share` tag names (0.1 when it has none), when that alias exists; the
answer names the version that gave it. And when `MODEL:shadow` exists, a copy of every request
to the default route runs on that version too, in its own batches: its answer is never
returned, only logged beside the champion's (`shadow_of`, and what the champion said), so
agreement with the champion, and accuracy once feedback on the champion's prediction arrives,
are known per shadow version. A shadow that is full or fails never touches the real answer.

Companions are looked up on the model's first request and followed through the registry's
events afterwards (`on_alias`; `on_tags` for a change of the canary's share alone), so a new
shadow or canary is loaded off the request path.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING

from tuneloop.errors import InvalidArgument, NotFound, ResourceExhausted
from tuneloop.ml.spec import GENERATION
from tuneloop.serving import metrics as prom

if TYPE_CHECKING:
    from tuneloop.serving.core import ServingCore
    from tuneloop.serving.predictors import Item

log = logging.getLogger(__name__)
CANARY, SHADOW = "canary", "shadow"
DEFAULT_SHARE = 0.1


def said(answer, task: str) -> str:
    """What an answer predicted: its label, or a decoder's completion."""
    return answer.generated if task == GENERATION else answer.label


class Traffic:
    def __init__(self, core: ServingCore) -> None:
        self.core = core
        self._lock = threading.Lock()
        self._present: dict[str, float] = {}  # companion routes found -> canary share (1.0 for a shadow)
        self._checked: set[str] = set()  # models whose companions were looked up

    def _companion(self, key: str, kind: str) -> str | None:
        model, _, alias = key.partition(":")
        return f"{model}:{kind}" if alias == self.core.settings.default_alias and "@" not in key else None

    def look_up(self, key: str) -> None:
        """On a default route's first request: resolve (load) its companions that exist."""
        model = key.partition(":")[0]
        with self._lock:
            if model in self._checked or self._companion(key, CANARY) is None:
                return
            self._checked.add(model)
        for kind in (CANARY, SHADOW):
            self.refresh(f"{model}:{kind}")

    def refresh(self, companion: str) -> None:
        """Load the version a companion alias names now, or forget it when it is gone; a failure
        is logged and leaves the default route alone."""
        try:
            version = self.core.client().registry.get_version(companion)
            share = float(version.tags.get("canary_share", DEFAULT_SHARE)) if companion.endswith(CANARY) else 1.0
            self.core._resolve(companion)
        except NotFound:
            with self._lock:
                self._present.pop(companion, None)
            self.core.refresh(companion)  # drops its route (and unloads the version) if it had one
            return
        except Exception:  # noqa: BLE001 - a broken canary or shadow must not fail the champion's requests
            log.exception("could not load %s; the default route answers alone", companion)
            with self._lock:
                self._present.pop(companion, None)
            return
        with self._lock:
            self._present[companion] = min(max(share, 0.0), 1.0)
        log.info("%s rides along %s", companion, companion.rsplit(":", 1)[0])

    def on_alias(self, key: str) -> bool:
        """A registry alias event; True when it was a companion of a model served here (handled)."""
        model, _, alias = key.partition(":")
        if alias not in (CANARY, SHADOW):
            return False
        with self._lock:
            served = model in self._checked
        if served:
            self.refresh(key)
        return served

    def on_tags(self, model: str) -> None:
        """Tags of one of `model`'s versions changed: read its canary's share again (one lookup)."""
        canary = f"{model}:{CANARY}"
        with self._lock:
            if canary not in self._present:
                return
        self.refresh(canary)

    def pick(self, key: str) -> str:
        """The route that answers a request to `key`: its canary, for the canary's share."""
        canary = self._companion(key, CANARY)
        if canary is None:
            return key
        with self._lock:
            share = self._present.get(canary, 0.0)
        return canary if share and random.random() < share else key

    def shadow(self, key: str, item: Item, answered: Future, prediction_id: str, task: str) -> None:
        """Run a copy of a request to `key` on its shadow, and log the shadow's answer beside it."""
        companion = self._companion(key, SHADOW)
        with self._lock:
            if companion is None or companion not in self._present:
                return
        try:
            loaded = self.core._acquire(companion)
        except Exception:  # noqa: BLE001 - gone meanwhile: no copy
            return
        try:
            future = loaded.batcher.submit(loaded.predictor.check(item))
        except (InvalidArgument, ResourceExhausted):
            self.core.release(loaded)
            prom.SHADOW_SKIPPED.labels(loaded.key).inc()
            return
        future.add_done_callback(lambda _f: self.core.release(loaded))

        def both(f: Future) -> None:
            future.add_done_callback(lambda s: self._record(f, s, loaded, item, prediction_id, task))

        answered.add_done_callback(both)

    def _record(self, champion: Future, shadow: Future, loaded, item: Item, prediction_id: str, task: str) -> None:
        if champion.cancelled() or shadow.cancelled() or champion.exception() or shadow.exception():
            return
        mine, theirs = said(shadow.result(), loaded.predictor.task), said(champion.result(), task)
        prom.SHADOW_AGREEMENT.labels(loaded.key, "agree" if mine == theirs else "disagree").inc()
        self.core.log.add(uuid.uuid4().hex, loaded.key, text=item.text, image=item.image, predicted=mine,
                          shadow_of=prediction_id, champion_predicted=theirs)
