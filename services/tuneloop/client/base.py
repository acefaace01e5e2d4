"""What every service client shares: channels (plain or TLS), the bearer token, timeouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from tuneloop.core.settings import ClientSettings

CHUNK = 4 << 20  # bytes per upload message: large enough that per-message costs vanish


def open_channel(address: str, settings: ClientSettings) -> grpc.Channel:
    opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    if settings.tls_ca_file is None:
        return grpc.insecure_channel(address, options=opts)
    creds = grpc.ssl_channel_credentials(root_certificates=settings.tls_ca_file.read_bytes())
    return grpc.secure_channel(address, creds, options=opts)


class ServiceClient:
    """Base of the per-service clients: metadata with the token, a default timeout."""

    def __init__(self, channel: grpc.Channel, token: str | None, timeout: float | None) -> None:
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.timeout = timeout


def all_pages(fetch: Callable[[str], Any], field: str, *, max_pages: int = 100_000) -> list:
    """Every item of a paged listing: `fetch(page_token)` returns a response with `field` and
    `next_page_token`; an empty token ends the listing."""
    items, token = [], ""
    for _ in range(max_pages):
        resp = fetch(token)
        items += getattr(resp, field)
        token = resp.next_page_token
        if not token:
            return items
    raise RuntimeError(f"listing did not end within {max_pages} pages")
