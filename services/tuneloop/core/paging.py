"""Page tokens for list RPCs: an opaque string holding the offset of the next page."""

from __future__ import annotations

import base64

from tuneloop.errors import InvalidArgument

DEFAULT_PAGE = 100
MAX_PAGE = 1000
MAX_OFFSET = 2**62


def page_bounds(page_size: int, token: str) -> tuple[int, int]:
    """(limit, offset) for a request; a bad token or size is InvalidArgument."""
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")
    limit = min(page_size or DEFAULT_PAGE, MAX_PAGE)
    if not token:
        return limit, 0
    shown = token if len(token) <= 40 else token[:40] + "..."
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
    except ValueError as exc:
        raise InvalidArgument(f"invalid page_token {shown!r}") from exc
    if not 0 <= offset <= MAX_OFFSET:  # a forged huge offset overflowed the database's integer
        raise InvalidArgument(f"invalid page_token {shown!r}")
    return limit, offset


def next_token(offset: int, limit: int, returned: int) -> str:
    if returned < limit:
        return ""
    return base64.urlsafe_b64encode(f"o:{offset + returned}".encode()).decode()
