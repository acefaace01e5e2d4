"""Server interceptor: bearer-token auth, domain-error mapping and per-RPC metrics.

Every handler of every service passes through `ServiceInterceptor`, which
- refuses a call without the configured bearer token (UNAUTHENTICATED); health checks
  stay open so Kubernetes probes need no secret;
- turns a `TuneloopError` raised by a core into its precise status code;
- turns any other exception into INTERNAL with the error logged, never silently;
- counts every call by status code and times it, streaming responses included.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable

import grpc

from tuneloop.core.metrics import RPC_IN_FLIGHT, RPC_LATENCY, RPC_REQUESTS
from tuneloop.errors import TuneloopError

log = logging.getLogger(__name__)

_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def _split_method(full: str) -> tuple[str, str]:
    _, service, method = full.split("/", 2)
    return service.rsplit(".", 1)[-1], method


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
        self.context.abort(code, message)

    def handle(self, exc: BaseException) -> None:
        """Map `exc` to a status; always raises (context.abort raises)."""
        if isinstance(exc, TuneloopError):
            self.fail(exc.status, exc.message)
        set_code = self.context.code()
        if set_code is not None and set_code != grpc.StatusCode.OK:
            self.code = set_code  # the servicer aborted on purpose
            raise exc
        log.exception("unexpected error in %s/%s", self.service, self.method, exc_info=exc)
        self.fail(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")

    def finish(self) -> None:
        if self.code == grpc.StatusCode.OK and self.context.code() not in (None, grpc.StatusCode.OK):
            self.code = self.context.code()
        RPC_IN_FLIGHT.labels(self.service).dec()
        RPC_REQUESTS.labels(self.service, self.method, self.code.name).inc()
        RPC_LATENCY.labels(self.service, self.method).observe(time.perf_counter() - self.started)


def _wrap_unary_response(behavior: Callable, method: str, token: str | None) -> Callable:
    def wrapped(request, context):
        call = _Call(method, token, context)
        try:
            call.authenticate()
            return behavior(request, context)
        except BaseException as exc:  # noqa: BLE001 - mapped and re-raised by handle()
            call.handle(exc)
        finally:
            call.finish()

    return wrapped


def _wrap_stream_response(behavior: Callable, method: str, token: str | None) -> Callable:
    def wrapped(request, context):
        call = _Call(method, token, context)
        try:
            call.authenticate()
            yield from behavior(request, context)
        except GeneratorExit:
            call.code = grpc.StatusCode.CANCELLED
            raise
        except BaseException as exc:  # noqa: BLE001 - mapped and re-raised by handle()
            call.handle(exc)
        finally:
            call.finish()

    return wrapped


class ServiceInterceptor(grpc.ServerInterceptor):
    def __init__(self, auth_token: str | None = None) -> None:
        self.auth_token = auth_token or None

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        token = self.auth_token
        if handler.unary_unary:
            return handler._replace(unary_unary=_wrap_unary_response(handler.unary_unary, method, token))
        if handler.stream_unary:
            return handler._replace(stream_unary=_wrap_unary_response(handler.stream_unary, method, token))
        if handler.unary_stream:
            return handler._replace(unary_stream=_wrap_stream_response(handler.unary_stream, method, token))
        return handler._replace(stream_stream=_wrap_stream_response(handler.stream_stream, method, token))
