"""Server interceptor: bearer-token auth, domain-error mapping and per-RPC metrics.

Every handler of every service passes through `ServiceInterceptor`, which
- refuses a call without the configured bearer token (UNAUTHENTICATED); health checks
  stay open so Kubernetes probes need no secret;
- turns a `TuneloopError` raised by a core into its precise status code;
- turns any other exception into INTERNAL with the error logged, never silently;
- counts every call by status code and times it, streaming responses included;
- gives streaming calls their own budget (`StreamSlots`): at most so many open, in all and per
  client address (RESOURCE_EXHAUSTED past either), and the server sizes its thread pool so that
  open streams can never take the threads unary calls and health checks need;
- ends an upload (a request stream) that sends nothing for `upload_idle_seconds`.
"""

from __future__ import annotations

import errno
import hmac
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc

from tuneloop.core.metrics import RPC_IN_FLIGHT, RPC_LATENCY, RPC_REQUESTS
from tuneloop.errors import TuneloopError

log = logging.getLogger(__name__)

_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
_MAX_MESSAGE = 1000


def _split_method(full: str) -> tuple[str, str]:
    _, service, method = full.split("/", 2)
    return service.rsplit(".", 1)[-1], method


class StreamSlots:
    """Counts open streaming calls, in all and per client address."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> str | None:
        """Take a slot for `client`; None, or why not."""
        with self._lock:
            mine, everyone = self._open.get(client, 0), sum(self._open.values())
            if mine >= self.per_client:
                return f"this client has {mine} open streams (limit {self.per_client}); close one first"
            if everyone >= self.total:
                return f"the server has {everyone} open streams (limit {self.total}); try again later"
            self._open[client] = mine + 1
            return None

    def release(self, client: str) -> None:
        with self._lock:
            left = self._open.get(client, 1) - 1
            if left:
                self._open[client] = left
            else:
                self._open.pop(client, None)


def _client_of(context: grpc.ServicerContext) -> str:
    """The peer without its port ("ipv4:10.0.0.7"): one client, however many connections."""
    peer = context.peer() or ""
    return peer.rsplit(":", 1)[0] if peer.startswith(("ipv4:", "ipv6:")) else peer


class _IdleLimit:
    """A request stream read through a queue, so that a client sending nothing for `seconds`
    ends the call (the reader thread ends with the call)."""

    _END = object()

    def __init__(self, requests: Iterator, seconds: float) -> None:
        self.seconds = seconds
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        threading.Thread(target=self._read, args=(requests,), name="upload-reader", daemon=True).start()

    def _read(self, requests: Iterator) -> None:
        try:
            for message in requests:
                self._queue.put(message)
            self._queue.put(self._END)
        except BaseException as exc:  # noqa: BLE001 - handed to the handler's thread below
            self._queue.put(exc)

    def __iter__(self) -> _IdleLimit:
        return self

    def __next__(self):
        try:
            item = self._queue.get(timeout=self.seconds)
        except queue.Empty:
            raise _Idle(f"no data for {self.seconds:g} s: the upload is ended and what it sent discarded") from None
        if item is self._END:
            self._queue.put(self._END)  # stays exhausted
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, _Undecodable):
            raise _BadMessage()
        return item


class _Idle(Exception):
    pass


class _BadMessage(Exception):
    pass


class _Undecodable:
    """What a request that is not a valid message of its method decodes to (gRPC itself would
    answer INTERNAL 'Exception deserializing request!'); the handler refuses it."""


def _lenient(deserialize: Callable | None) -> Callable | None:
    if deserialize is None:
        return None

    def decode(data: bytes):
        try:
            return deserialize(data)
        except Exception:  # noqa: BLE001 - any decoding failure is the client's bad message
            return _Undecodable()

    return decode


def _no_space(exc: BaseException | None) -> bool:
    """ENOSPC anywhere in the chain of causes (an fsspec or SQLite error wraps the OSError)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if "database or disk is full" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class _Call:
    """Bookkeeping of one call: auth, error mapping and metrics."""

    def __init__(self, full_method: str, token: str | None, context: grpc.ServicerContext) -> None:
        self.service, self.method = _split_method(full_method)
        self.context = context
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.OK
        self.needs_token = token is not None and not full_method.startswith(_OPEN_PREFIXES)
        self.token = token
        RPC_IN_FLIGHT.labels(self.service).inc()

    def authenticate(self) -> None:
        if not self.needs_token:
            return
        token = self.token
        sent = dict(self.context.invocation_metadata()).get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            self.fail(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

    def fail(self, code: grpc.StatusCode, message: str) -> None:
        self.code = code
        if len(message) > _MAX_MESSAGE:  # a message that echoes input never outgrows gRPC's metadata limit
            message = f"{message[:_MAX_MESSAGE]}... ({len(message) - _MAX_MESSAGE} characters cut)"
        self.context.abort(code, message)

    def handle(self, exc: BaseException) -> None:
        """Map `exc` to a status; always raises (context.abort raises)."""
        if isinstance(exc, TuneloopError):
            self.fail(exc.status, exc.message)
        if isinstance(exc, _Idle):
            self.fail(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
        if isinstance(exc, _BadMessage):
            self.fail(grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid message of this method")
        set_code = self.context.code()
        if set_code is not None and set_code != grpc.StatusCode.OK:
            self.code = set_code  # the servicer aborted on purpose
            raise exc
        if not self.context.is_active():  # the client cancelled or went away: nothing went wrong here
            self.code = grpc.StatusCode.CANCELLED
            log.info("%s/%s: the client left (%s)", self.service, self.method, type(exc).__name__)
            raise exc
        if _no_space(exc):
            log.error("%s/%s: storage full: %s", self.service, self.method, exc)
            self.fail(grpc.StatusCode.RESOURCE_EXHAUSTED, "no space left on the server's storage; nothing was kept")
        reference = uuid.uuid4().hex[:12]
        log.error("unexpected error in %s/%s (reference %s)", self.service, self.method, reference, exc_info=exc)
        # the message names the error's type only: its text may carry SQL, parameters or paths
        self.fail(grpc.StatusCode.INTERNAL, f"internal error {type(exc).__name__} (reference {reference} in the "
                                            "server's log)")

    def finish(self) -> None:
        if self.code == grpc.StatusCode.OK and self.context.code() not in (None, grpc.StatusCode.OK):
            self.code = self.context.code()
        RPC_IN_FLIGHT.labels(self.service).dec()
        RPC_REQUESTS.labels(self.service, self.method, self.code.name).inc()
        RPC_LATENCY.labels(self.service, self.method).observe(time.perf_counter() - self.started)


@dataclass(frozen=True)
class _Limits:
    token: str | None
    slots: StreamSlots
    upload_idle_seconds: float


def _wrap(behavior: Callable, method: str, limits: _Limits, *, streams_in: bool, streams_out: bool) -> Callable:
    """The handler behind auth, error mapping, metrics and, for streaming calls, a stream slot
    (and for request streams, the idle limit)."""
    streaming = streams_in or streams_out

    def enter(call: _Call, request, context):
        call.authenticate()
        if isinstance(request, _Undecodable):
            raise _BadMessage()
        client = _client_of(context) if streaming else ""
        if streaming and (refused := limits.slots.acquire(client)):
            call.fail(grpc.StatusCode.RESOURCE_EXHAUSTED, refused)
        return client, (_IdleLimit(request, limits.upload_idle_seconds) if streams_in else request)

    if not streams_out:
        def unary(request, context):
            call, client = _Call(method, limits.token, context), None
            try:
                client, request = enter(call, request, context)
                return behavior(request, context)
            except BaseException as exc:  # noqa: BLE001 - mapped and re-raised by handle()
                call.handle(exc)
            finally:
                if client is not None and streaming:
                    limits.slots.release(client)
                call.finish()

        return unary

    def stream(request, context):
        call, client = _Call(method, limits.token, context), None
        try:
            client, request = enter(call, request, context)
            yield from behavior(request, context)
        except GeneratorExit:
            call.code = grpc.StatusCode.CANCELLED
            raise
        except BaseException as exc:  # noqa: BLE001 - mapped and re-raised by handle()
            call.handle(exc)
        finally:
            if client is not None:
                limits.slots.release(client)
            call.finish()

    return stream


class ServiceInterceptor(grpc.ServerInterceptor):
    def __init__(self, auth_token: str | None = None, *, max_streams: int = 256, max_streams_per_client: int = 100,
                 upload_idle_seconds: float = 60.0) -> None:
        self.auth_token = auth_token or None
        self.limits = _Limits(self.auth_token, StreamSlots(max_streams, max_streams_per_client), upload_idle_seconds)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method, limits = handler_call_details.method, self.limits
        handler = handler._replace(request_deserializer=_lenient(handler.request_deserializer))
        if handler.unary_unary:
            return handler._replace(unary_unary=_wrap(handler.unary_unary, method, limits,
                                                      streams_in=False, streams_out=False))
        if handler.stream_unary:
            return handler._replace(stream_unary=_wrap(handler.stream_unary, method, limits,
                                                       streams_in=True, streams_out=False))
        if handler.unary_stream:
            return handler._replace(unary_stream=_wrap(handler.unary_stream, method, limits,
                                                       streams_in=False, streams_out=True))
        return handler._replace(stream_stream=_wrap(handler.stream_stream, method, limits,
                                                    streams_in=True, streams_out=True))
