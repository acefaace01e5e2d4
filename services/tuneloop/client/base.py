"""What every service client shares: channels (plain or TLS, round-robin over every address
of a name, retrying a call whose server is gone), the bearer token, timeouts, the stub, and
the one place where a failed call becomes a domain error.

`ServiceClient._call` runs a unary (or client-streaming) method; `_stream` opens a
server stream. Either way a `grpc.RpcError` comes out as the `tuneloop.errors` class of
its status code (`NotFound`, `InvalidArgument`, ...), which is still a `grpc.RpcError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import grpc

from tuneloop.client.settings import ClientSettings
from tuneloop.errors import from_rpc

CHUNK = 4 << 20  # bytes per upload message: large enough that per-message costs vanish


# Calls spread over every address a name resolves to (a headless Service gives one per pod;
# one ClusterIP would pin the HTTP/2 connection, and so every call, to one pod), and a call
# that found its server gone (UNAVAILABLE: nothing was done) is retried on another.
SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": [{}],  # every method of every service
        "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.2s", "maxBackoff": "2s", "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"]},
    }],
})


def open_channel(address: str, settings: ClientSettings) -> grpc.Channel:
    opts: list[tuple[str, int | str]] = [("grpc.max_receive_message_length", 64 << 20),
                                         ("grpc.max_send_message_length", 64 << 20),
                                         ("grpc.service_config", SERVICE_CONFIG), ("grpc.enable_retries", 1),
                                         # subchannels of this channel alone: gRPC's process-wide pool can hand a
                                         # new channel the connection state (and reconnect backoff) of another
                                         # channel to the same address, e.g. to a stopped server whose port a new
                                         # one was given. Suspected, not reproduced: once in CI a test module's
                                         # fresh server refused its first call ("connections to all backends
                                         # failing"); a quick reproduction did not fail without this
                                         ("grpc.use_local_subchannel_pool", 1)]
    if settings.tls_ca_file is None or address.startswith("unix:"):
        # no TLS asked for; or a server's own local socket (core.server), reachable only from its host
        return grpc.insecure_channel(address, options=opts)
    creds = grpc.ssl_channel_credentials(root_certificates=settings.tls_ca_file.read_bytes())
    if settings.tls_server_name:
        opts.append(("grpc.ssl_target_name_override", settings.tls_server_name))
    return grpc.secure_channel(address, creds, options=opts)


class Stream:
    """A server stream whose errors come out as domain errors; `cancel()` stops it early."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._call
        except grpc.RpcError as exc:
            raise from_rpc(exc) from None

    def cancel(self) -> None:
        self._call.cancel()


class ServiceClient:
    """Base of the per-service clients: owns the stub, sends the token, applies the timeout."""

    stub_class: ClassVar[type]  # the generated *ServiceStub

    def __init__(self, channel: grpc.Channel, token: str | None, timeout: float | None) -> None:
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.timeout = timeout
        self.stub = self.stub_class(channel)

    def _call(self, method: str, request: Any) -> Any:
        """Call a unary or client-streaming method; a failure is the domain error of its code."""
        try:
            return getattr(self.stub, method)(request, metadata=self.metadata, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise from_rpc(exc) from None

    def _stream(self, method: str, request: Any, *, timeout: float | None = None) -> Stream:
        """Open a server stream (its own timeout: a followed stream may outlive any call timeout)."""
        return Stream(getattr(self.stub, method)(request, metadata=self.metadata, timeout=timeout))

    def _pages(self, method: str, request_class: Callable[..., Any], field: str, **fields: Any) -> list:
        """Every item of a paged listing."""
        return all_pages(lambda token: self._call(method, request_class(page={"page_token": token}, **fields)),
                         field)


def all_pages(fetch: Callable[[str], Any], field: str, *, max_pages: int = 100_000) -> list:
    """Every item of a paged listing: `fetch(page_token)` returns a response with `field` and
    `next_page_token`; an empty token ends the listing."""
    items: list = []
    token = ""
    for _ in range(max_pages):
        resp = fetch(token)
        items += getattr(resp, field)
        token = resp.next_page_token
        if not token:
            return items
    raise RuntimeError(f"listing did not end within {max_pages} pages")
