"""One gRPC server bootstrap for every service.

`build_server` makes a `grpc.Server` with the shared interceptor (auth, error mapping,
metrics), standard health checking (grpc.health.v1) and server reflection, then lets
each service register its servicer. `Server.wait` blocks until SIGTERM/SIGINT (or
`stop()`), marks every service NOT_SERVING and drains in-flight calls for the grace
period before returning.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from tuneloop.core.interceptors import ServiceInterceptor
from tuneloop.core.metrics import start_metrics_server
from tuneloop.core.settings import ServerSettings

log = logging.getLogger(__name__)

# A registration adds one servicer to the server and returns its full service name.
Registration = Callable[[grpc.Server], str]


def registration(servicer: object, add_to_server: Callable[[object, grpc.Server], None],
                 service: ServiceDescriptor) -> Registration:
    """The registration of one servicer: `add_to_server` is the generated `add_*_to_server`,
    `service` the generated descriptor (its full name is what health and reflection list)."""

    def register(server: grpc.Server) -> str:
        add_to_server(servicer, server)
        return service.full_name

    return register


@dataclass
class Server:
    grpc_server: grpc.Server
    health: health.HealthServicer
    services: list[str]
    port: int
    grace: float
    metrics_port: int | None = None
    local_address: str | None = None  # with TLS: a Unix socket its own services dial each other on
    on_stop: list[Callable[[], None]] = field(default_factory=list)  # background work, stopped first
    _stopped: threading.Event = field(default_factory=threading.Event)
    _metrics_http: Any = None  # the metrics HTTP server, shut down at stop

    def stop(self) -> None:
        """Stop taking calls, let in-flight ones finish within the grace period."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        for hook in self.on_stop:
            hook()
        self.grpc_server.stop(self.grace).wait()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
        if self.local_address:
            shutil.rmtree(os.path.dirname(self.local_address.removeprefix("unix:")), ignore_errors=True)

    def wait(self, stop_requested: threading.Event | None = None) -> None:
        """Block until stopped; once `stop_requested` is set (see `catch_stop_signals`), stop
        gracefully first."""
        while not self._stopped.wait(0.2):
            if stop_requested is not None and stop_requested.is_set():
                self.stop()
        self.grpc_server.wait_for_termination()


def watch_storage(server: Server, url: str, services: Sequence[str], every: float) -> Callable[[], None]:
    """Check every `every` seconds that storage at `url` answers (`core.storage.check_reachable`);
    while it does not, `services` (and the server as a whole) report NOT_SERVING and the reason
    is logged once. Returns the function that stops watching."""
    from tuneloop.core.storage import check_reachable

    stop = threading.Event()

    def watch() -> None:
        last: str | None = None
        while True:
            try:
                check_reachable(url)
                reason = None
            except Exception as exc:  # noqa: BLE001 - any failure of the store is the reason
                reason = str(exc)
            if reason != last and not stop.is_set():
                status = health_pb2.HealthCheckResponse.SERVING if reason is None else \
                    health_pb2.HealthCheckResponse.NOT_SERVING
                for name in ["", *services]:
                    server.health.set(name, status)
                if reason is not None:
                    log.error("%s: %s NOT_SERVING", reason, ", ".join(services))
                elif last is not None:
                    log.info("storage %s is reachable again: %s SERVING", url, ", ".join(services))
                last = reason
            if stop.wait(every):
                return

    threading.Thread(target=watch, name="storage-health", daemon=True).start()
    return stop.set


def catch_stop_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set. Installed before the server starts: a signal that
    came after the server answered its first health check but before the handlers existed
    used to kill the process at once, without draining (seen under load in the SIGTERM test)."""
    requested = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: requested.set())
    return requested


def _credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    if settings.tls_cert_file is None and settings.tls_key_file is None:
        return None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise ValueError("TLS needs both TUNELOOP_TLS_CERT_FILE and TUNELOOP_TLS_KEY_FILE")
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())]
    )


def build_server(settings: ServerSettings, registrations: Sequence[Registration]) -> Server:
    """Create, bind and start a server hosting every registration."""
    limit = settings.max_message_bytes
    # every open stream holds a thread; `max_streams` more than `workers` keeps `workers` threads
    # for unary calls and health checks however many streams are open (past it: RESOURCE_EXHAUSTED)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers + settings.max_streams,
                                   thread_name_prefix="tuneloop-rpc"),
        interceptors=[ServiceInterceptor(settings.auth_token, max_streams=settings.max_streams,
                                         max_streams_per_client=settings.max_streams_per_client,
                                         upload_idle_seconds=settings.upload_idle_seconds)],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            # gRPC sets SO_REUSEPORT by default: a second server on a taken port would then start
            # and silently share it; without it, binding a port in use fails, as it should
            ("grpc.so_reuseport", 0),
            # round-robin clients learn of new pods only when they resolve the name again
            ("grpc.max_connection_age_ms", int(settings.max_connection_age_seconds * 1000)),
        ],
    )
    names = [register(server) for register in registrations]
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    creds = _credentials(settings)
    local = None
    if creds is None:
        port = server.add_insecure_port(settings.address)
    else:
        port = server.add_secure_port(settings.address, creds)
        # the services hosted here call each other; over TLS they would need a CA and a name the
        # certificate covers for 127.0.0.1. A Unix socket in a private folder needs neither (the
        # token is still checked on it)
        local = f"unix:{tempfile.mkdtemp(prefix='tuneloop-')}/grpc.sock"
        server.add_insecure_port(local)
    if port == 0:
        raise OSError(f"could not bind gRPC address {settings.address}")
    server.start()
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    running = Server(server, health_servicer, names, port, settings.shutdown_grace_seconds, local_address=local)
    if settings.metrics_port is not None:
        http_server, _thread = start_metrics_server(settings.metrics_host, settings.metrics_port)
        running._metrics_http = http_server
        running.metrics_port = http_server.server_port
    log.info("serving %s on port %d", ", ".join(names), port)
    return running
