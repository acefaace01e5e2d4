"""Assembling services: build each core from settings and host them on one gRPC server.

`tuneloop up` hosts every service in SERVICES on one address; `tuneloop serve NAME`
hosts one. Both go through `start`, so a service behaves the same either way. A service
that works in the background (the trainer's job runner) starts once the server listens,
and stops before it does.

Services reach each other over gRPC, as they would on a cluster: a `TUNELOOP_<SERVICE>_ADDRESS`
names where one runs apart; by default it is this very server.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from tuneloop.client.settings import ClientSettings
from tuneloop.core import janitor
from tuneloop.core.artifacts import ArtifactStore
from tuneloop.core.db import open_database
from tuneloop.core.server import Registration, Server, build_server, watch_storage
from tuneloop.core.settings import (
    ControllerSettings,
    DataprepSettings,
    RegistrySettings,
    ServerSettings,
    ServingSettings,
    TrainerSettings,
)
from tuneloop.core.storage import join


@dataclass
class Context:
    settings: ServerSettings
    engine: sa.Engine
    server: Server | None = None  # set once listening
    _peers: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @functools.cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, opened by the services that keep artifacts (dataprep, registry)
        when they are built. The others never touch it, so they start even where its URL is
        not writable from their pod (a volume only dataprep and the registry mount)."""
        return ArtifactStore(self.settings.resolved_artifact_url())

    def client(self):
        """A client of the other services (this server unless an address says otherwise)."""
        from tuneloop.client import Client

        host = self.settings.address.rsplit(":", 1)[0]
        host = "127.0.0.1" if host in ("0.0.0.0", "[::]", "") else host
        own = self.server.local_address or f"{host}:{self.server.port}"
        overrides = ClientSettings()
        settings = overrides.model_copy(update={"address": own, "auth_token": self.settings.auth_token
                                                or overrides.auth_token})
        return Client(settings=settings, timeout=600)

    def peers(self):
        """The client every hosted service uses to reach the others. Made on first use, not at
        start: it needs this server's own port, known only once it listens. One for all threads:
        gRPC channels are thread-safe and multiplex concurrent calls."""
        with self._lock:
            if self._peers is None:
                self._peers = self.client()
            return self._peers


@dataclass
class Hosted:
    register: Registration
    on_start: Callable[[], None] | None = None
    on_stop: Callable[[], None] | None = None
    uses_storage: bool = False  # NOT_SERVING while the storage does not answer
    janitor: Callable[[], dict[str, int]] | None = None  # collects what failed writes left (core.janitor)


def _dataprep(ctx: Context) -> Hosted:
    from tuneloop.dataprep import gc
    from tuneloop.dataprep.core import DataprepCore
    from tuneloop.dataprep.servicer import registration
    from tuneloop.dataprep.store import DatasetStore

    store = DatasetStore(ctx.engine, ctx.artifacts)
    return Hosted(registration(DataprepCore(store, DataprepSettings())), uses_storage=True,
                  janitor=lambda: gc.collect(store, ctx.artifacts, ctx.settings.gc_grace_seconds))


def _registry(ctx: Context) -> Hosted:
    from tuneloop.registry import gc
    from tuneloop.registry.core import RegistryCore
    from tuneloop.registry.servicer import registration
    from tuneloop.registry.store import RegistryStore

    store = RegistryStore(ctx.engine)
    return Hosted(registration(RegistryCore(store, ctx.artifacts, RegistrySettings())), uses_storage=True,
                  janitor=lambda: gc.collect(store, ctx.artifacts, ctx.settings.gc_grace_seconds))


def _trainer(ctx: Context) -> Hosted:
    from tuneloop.ml.inputs import Inputs
    from tuneloop.trainer.core import TrainerCore
    from tuneloop.trainer.servicer import registration
    from tuneloop.trainer.store import JobStore

    core = TrainerCore(JobStore(ctx.engine), Inputs(ctx.peers, ctx.settings.data_dir / "trainer"),
                       TrainerSettings(), join(ctx.settings.resolved_artifact_url(), "trainer"))
    return Hosted(registration(core), on_start=core.runner.start, on_stop=core.runner.stop, uses_storage=True)


def _evaluator(ctx: Context) -> Hosted:
    from tuneloop.evaluator.core import EvaluatorCore
    from tuneloop.evaluator.servicer import registration
    from tuneloop.evaluator.store import EvaluationStore
    from tuneloop.ml.inputs import Inputs

    inputs = Inputs(ctx.peers, ctx.settings.data_dir / "evaluator")
    return Hosted(registration(EvaluatorCore(EvaluationStore(ctx.engine), inputs)))


def _controller(ctx: Context) -> Hosted:
    from tuneloop.controller.core import ControllerCore
    from tuneloop.controller.servicer import registration
    from tuneloop.controller.store import ControllerStore

    core = ControllerCore(ControllerStore(ctx.engine), ctx.peers, ControllerSettings())
    return Hosted(registration(core), on_start=core.start, on_stop=core.stop)


def _serving(ctx: Context) -> Hosted:
    from tuneloop.ml.inputs import Inputs
    from tuneloop.serving.core import ServingCore
    from tuneloop.serving.feedback import Feedback
    from tuneloop.serving.log import PredictionLog
    from tuneloop.serving.servicer import registration

    settings = ServingSettings()
    log = PredictionLog(ctx.engine, sample=settings.log_sample, max_pending=settings.log_max_pending)
    core = ServingCore(ctx.peers, Inputs(ctx.peers, ctx.settings.data_dir / "serving"), settings, log)
    feedback = Feedback(log, ctx.peers, settings, core.route_key,
                        loaded=lambda: [v["model_version"] for v in core.status()])

    def start() -> None:
        core.start()
        feedback.start()

    def stop() -> None:
        feedback.stop()
        core.stop()

    return Hosted(registration(core, feedback), on_start=start, on_stop=stop)


SERVICES: dict[str, Callable[[Context], Hosted]] = {
    "dataprep": _dataprep,
    "registry": _registry,
    "trainer": _trainer,
    "evaluator": _evaluator,
    "controller": _controller,
    "serving": _serving,
}


def start(settings: ServerSettings, services: Sequence[str] = tuple(SERVICES)) -> Server:
    """Open the store, build every named service and start serving."""
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        raise ValueError(f"unknown service {', '.join(unknown)}: choose from {', '.join(SERVICES)}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(settings, open_database(settings.resolved_database_url(), migrate_schema=settings.db_migrate,
                                          pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow))
    hosted = [SERVICES[name](ctx) for name in services]
    server = build_server(settings, [h.register for h in hosted])
    ctx.server = server
    server.on_stop = [h.on_stop for h in hosted if h.on_stop]
    storage_users = [name for h, name in zip(hosted, server.services, strict=True) if h.uses_storage]
    if storage_users:
        server.on_stop.insert(0, watch_storage(server, settings.resolved_artifact_url(), storage_users,
                                               settings.storage_check_seconds))
    for h, name in zip(hosted, server.services, strict=True):
        if h.on_start:
            h.on_start()
        if h.janitor:
            server.on_stop.insert(0, janitor.every(name.rsplit(".", 1)[-1], h.janitor, settings.gc_every_seconds))
    return server
