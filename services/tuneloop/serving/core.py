"""The serving use cases, free of gRPC: answer predictions from registered model versions, and
follow aliases so that traffic moves when an alias does.

A request names a route: `MODEL:ALIAS` (a bare `MODEL` is `MODEL:champion`) or `MODEL@VERSION`.
A route's first request resolves it through the registry and loads the version (its files
fetched into the local cache through the registry, verified, as everywhere else); later ones
find it loaded. Concurrent requests to one version share its micro-batcher.

Hot swap: one thread follows the registry's event stream (`follow.py`). When an alias routed here
moves, the new version is loaded beside the old one while the old one keeps answering; then
the route switches, under the lock every request takes to find its version, so a request is
answered wholly by the old version or wholly by the new. A version is unloaded once no route
names it and its last request in flight has been answered. An alias that moves while its
route is being loaded is resolved again before it is installed, so a move is never lost.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import grpc

from tuneloop.client import Client
from tuneloop.core.names import check_name, shown
from tuneloop.core.settings import ServingSettings
from tuneloop.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    TuneloopError,
    about,
)
from tuneloop.ml.inputs import Inputs
from tuneloop.ml.spec import GENERATION
from tuneloop.serving import metrics as prom
from tuneloop.serving import predictors
from tuneloop.serving.batcher import Batcher, BatchLimits
from tuneloop.serving.follow import Follower
from tuneloop.serving.log import PredictionLog
from tuneloop.serving.predictors import Answer, Item, Predictor
from tuneloop.serving.traffic import Traffic, said
from tuneloop.v1 import registry_pb2

log = logging.getLogger(__name__)
MAX_TOP_K = 1000


class DeadlineExceeded(TuneloopError):
    status = grpc.StatusCode.DEADLINE_EXCEEDED


@dataclass
class Loaded:
    key: str  # MODEL@VERSION
    predictor: Predictor
    batcher: Batcher
    in_flight: int = 0  # requests (and an installer) holding it: it is not unloaded under them
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class Prediction:
    answer: Answer
    model_version: str
    prediction_id: str
    logged: bool = False


@dataclass
class Pending:
    """A queued request: `result()` waits for its answer."""

    core: ServingCore
    loaded: Loaded
    future: Future
    started: float
    item: Item
    prediction_id: str

    def result(self) -> Prediction:
        key, timeout = self.loaded.key, self.core.settings.request_timeout_seconds
        try:
            answer = self.future.result(timeout=timeout)
        except FutureTimeout:
            self.future.cancel()
            raise DeadlineExceeded(f"{key} did not answer within {timeout:g} s") from None
        prom.PREDICTIONS.labels(key).inc()
        prom.LATENCY.labels(key).observe(time.perf_counter() - self.started)
        logged = self.core.log.add(self.prediction_id, key, text=self.item.text, image=self.item.image,
                                   predicted=said(answer, self.loaded.predictor.task))
        return Prediction(answer, key, self.prediction_id, logged)


class ServingCore:
    def __init__(self, client: Callable[[], Client], inputs: Inputs, settings: ServingSettings,
                 log: PredictionLog) -> None:
        self.client = client
        self.inputs = inputs
        self.settings = settings
        self.log = log
        self.limits = BatchLimits(settings.max_batch, settings.max_wait_ms / 1000, settings.max_queue)
        self._lock = threading.Lock()
        self._routes: dict[str, Loaded] = {}
        self._loaded: dict[str, Loaded] = {}
        self._moved: dict[str, bool] = {}  # routes being resolved -> whether their alias moved meanwhile
        self._route_locks: dict[str, threading.Lock] = {}
        self._version_locks: dict[str, threading.Lock] = {}
        self._follower = Follower(self)
        self.traffic = Traffic(self)

    # --- requests -------------------------------------------------------------------------

    def route_key(self, ref: str) -> str:
        """`MODEL:ALIAS` or `MODEL@VERSION`, checked; a bare `MODEL` is `MODEL:<default alias>`."""
        ref = ref.strip()
        if not ref:
            raise InvalidArgument("model is empty: name MODEL, MODEL:ALIAS or MODEL@VERSION")
        if "@" in ref:
            name, _, version = ref.partition("@")
            if not version.isdigit() or int(version) < 1:
                raise InvalidArgument(f"version in {shown(ref)} must be a positive number")
            return f"{check_name(name, what='model')}@{int(version)}"
        name, _, alias = ref.partition(":")
        return f"{check_name(name, what='model')}:{check_name(alias or self.settings.default_alias, what='alias')}"

    def item(self, *, text: str = "", image: bytes = b"", top_k: int = 0, max_new_tokens: int = 0) -> Item:
        """A request's input, checked for what does not depend on the model."""
        if text and image:
            raise InvalidArgument("send either text or image, not both")
        if not text and not image:
            raise InvalidArgument("input is empty: send text (or image, for an image model)")
        if len(text) > self.settings.max_input_chars:
            raise InvalidArgument(f"text is {len(text)} characters long: at most {self.settings.max_input_chars}")
        if len(image) > self.settings.max_image_bytes:
            raise InvalidArgument(f"image is {len(image)} bytes: at most {self.settings.max_image_bytes}")
        if not 0 <= top_k <= MAX_TOP_K:
            raise InvalidArgument(f"top_k must be between 1 and {MAX_TOP_K} (0: {predictors.DEFAULT_TOP_K}), "
                                  f"not {top_k}")
        if max_new_tokens < 0:
            raise InvalidArgument(f"max_new_tokens must not be negative, not {max_new_tokens}")
        return Item(text=text, image=image, top_k=top_k or predictors.DEFAULT_TOP_K,
                    max_new_tokens=max_new_tokens or predictors.DEFAULT_NEW_TOKENS)

    def predict(self, ref: str, item: Item) -> Prediction:
        return self.submit(ref, item).result()

    def submit(self, ref: str, item: Item) -> Pending:
        """Queue one request (the version loaded first if need be) without waiting for its answer."""
        started = time.perf_counter()
        key = self.route_key(ref)
        self.traffic.look_up(key)
        loaded = self._acquire(self.traffic.pick(key))
        try:
            checked = loaded.predictor.check(item)  # a bad input fails alone, before it joins a batch
            future = loaded.batcher.submit(checked)
        except BaseException as exc:
            if isinstance(exc, ResourceExhausted):
                prom.REFUSED.labels(loaded.key).inc()
            self.release(loaded)
            raise
        # the version is held until the request is answered (or cancelled), whoever waits or not
        future.add_done_callback(lambda _f: self.release(loaded))
        prediction_id = uuid.uuid4().hex
        self.traffic.shadow(key, checked, future, prediction_id, loaded.predictor.task)
        return Pending(self, loaded, future, started, checked, prediction_id)

    def status(self) -> list[dict]:
        with self._lock:
            return [{"model_version": loaded.key, "task": loaded.predictor.task,
                     "serves": sorted(k for k, v in self._routes.items() if v is loaded),
                     "requests": loaded.batcher.requests, "batches": loaded.batcher.batches,
                     "in_flight": loaded.in_flight, "queued": loaded.batcher.queued}
                    for loaded in sorted(self._loaded.values(), key=lambda x: x.key)]

    # --- routes and versions --------------------------------------------------------------

    def _acquire(self, key: str) -> Loaded:
        for _ in range(10):
            with self._lock:
                loaded = self._routes.get(key)
                if loaded is not None:
                    loaded.in_flight += 1
                    loaded.last_used = time.monotonic()
                    return loaded
            self._resolve(key)
        raise Aborted(f"{key} kept moving while it was loaded; retry")

    def release(self, loaded: Loaded) -> None:
        with self._lock:
            loaded.in_flight -= 1
            idle = self._unused()
        self._unload(idle)

    def _lock_for(self, table: dict[str, threading.Lock], key: str) -> threading.Lock:
        with self._lock:
            return table.setdefault(key, threading.Lock())

    def _resolve(self, key: str) -> None:
        """Point route `key` at the version the registry names for it now, loaded first (the
        version it named before answers until the switch). NotFound when the model, version or
        alias does not exist: the route is then dropped."""
        with self._lock_for(self._route_locks, key):
            for _ in range(10):
                with self._lock:
                    self._moved[key] = False
                try:
                    try:
                        version = self.client().registry.get_version(key)
                    except NotFound:
                        with self._lock:
                            self._routes.pop(key, None)
                            idle = self._unused()
                        self._unload(idle)
                        raise
                    target = f"{version.model}@{version.version}"
                    with self._lock:
                        current = self._routes.get(key)
                    if current is not None and current.key == target:
                        return
                    loaded = self._load(version)  # held (in_flight) until it is routed or dropped
                    with self._lock:
                        moved = self._moved[key]
                        if not moved:
                            self._routes[key] = loaded
                        loaded.in_flight -= 1
                        idle = self._unused()
                    self._unload(idle)
                    if not moved:
                        if current is not None:
                            prom.SWAPS.labels(*key.split(":", 1)).inc()
                            log.info("%s now answered by %s (was %s)", key, target, current.key)
                        return
                finally:
                    with self._lock:
                        self._moved.pop(key, None)
            raise Aborted(f"{key} kept moving while it was loaded; retry")

    def _load(self, version) -> Loaded:
        """The version loaded (or already), held once by the caller."""
        target = f"{version.model}@{version.version}"
        with self._lock_for(self._version_locks, target):
            with self._lock:
                loaded = self._loaded.get(target)
                if loaded is not None:
                    loaded.in_flight += 1
                    return loaded
                evict = self._eviction(target)
            self._unload(evict)
            with about(f"loading {target}"):
                model_dir = self.inputs.model_dir(version)
                if version.kind == registry_pb2.MODEL_KIND_BASE and predictors.task_of(model_dir) != GENERATION:
                    raise FailedPrecondition(f"{target} is a base model: its classification head is untrained, so "
                                             "its answers would be noise; serve a fine-tuned version")
                predictor = predictors.load(model_dir, self.settings.cpu_batch_tokens)
                self.log.remember_version(target, predictor.task, list(predictor.labels),
                                         version.lineage.dataset)
            batcher = Batcher(target, predictor.run, self.limits,
                              on_batch=prom.BATCH_SIZE.labels(target).observe)
            loaded = Loaded(target, predictor, batcher, in_flight=1)
            with self._lock:
                self._loaded[target] = loaded
                prom.LOADED.set(len(self._loaded))
            log.info("loaded %s (%s)", target, predictor.task)
            return loaded

    def _eviction(self, target: str) -> list[Loaded]:
        """Under the lock: room for one more version, made by dropping the least recently used
        version that only `MODEL@VERSION` routes name and nothing holds."""
        if len(self._loaded) < self.settings.max_loaded:
            return []
        followed = {v.key for k, v in self._routes.items() if ":" in k}
        idle = sorted((v for v in self._loaded.values() if v.in_flight == 0 and v.key not in followed),
                      key=lambda v: v.last_used)
        if not idle:
            raise ResourceExhausted(f"cannot load {target}: {len(self._loaded)} versions are loaded (the limit), "
                                    "each followed by an alias or answering; raise TUNELOOP_SERVING_MAX_LOADED")
        victim = idle[0]
        for k in [k for k, v in self._routes.items() if v is victim]:
            del self._routes[k]
        del self._loaded[victim.key]
        return [victim]

    def _unused(self) -> list[Loaded]:
        """Under the lock: loaded versions no route names and nothing holds, taken out."""
        routed = {id(v) for v in self._routes.values()}
        idle = [v for v in self._loaded.values() if id(v) not in routed and v.in_flight == 0]
        for v in idle:
            del self._loaded[v.key]
        prom.LOADED.set(len(self._loaded))
        return idle

    @staticmethod
    def _unload(versions: list[Loaded]) -> None:
        for loaded in versions:
            loaded.batcher.close()
            log.info("unloaded %s", loaded.key)

    # --- what the registry's events move (serving/follow.py calls these) -------------------

    def start(self) -> None:
        self.log.start()
        self._follower.start()

    def stop(self) -> None:
        self._follower.stop()
        self.log.stop()
        with self._lock:
            versions = list(self._loaded.values())
            self._loaded.clear()
            self._routes.clear()
        self._unload(versions)

    def alias_routes(self) -> list[str]:
        with self._lock:
            return [k for k in self._routes if ":" in k]

    def on_alias(self, key: str) -> None:
        """An alias moved (or went): re-resolve its route if this replica serves it."""
        if self.traffic.on_alias(key):
            return
        with self._lock:
            if key in self._moved:
                self._moved[key] = True  # its resolver resolves again before installing
                return
            if key not in self._routes:
                return
        self.refresh(key)

    def refresh(self, key: str) -> None:
        try:
            self._resolve(key)
        except NotFound:
            log.info("%s no longer exists: its route is dropped", key)
        except Exception:  # a version that fails to load: the old one keeps answering
            log.exception("could not move %s to its new version; the old one keeps answering", key)
