"""Validation of user-chosen names (datasets, models, aliases) and `NAME@VERSION` references."""

from __future__ import annotations

import re

from tuneloop.errors import InvalidArgument

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str, *, what: str = "name") -> str:
    """Return `name` if it is a safe identifier, else raise InvalidArgument naming the problem.

    Names become path segments in the artifact store, so path characters (`/`, `\\`, `..`),
    whitespace and empty names are refused.
    """
    if not name:
        raise InvalidArgument(f"{what} must not be empty")
    if "/" in name or "\\" in name or ".." in name:
        raise InvalidArgument(f"{what} {shown(name)} contains path characters")
    if not _NAME.match(name):
        raise InvalidArgument(
            f"{what} {shown(name)} is invalid: use letters, digits, '.', '_' and '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return name


def shown(value: str, limit: int = 60) -> str:
    """`value` quoted for a message, cut to `limit` characters: input is never echoed unbounded."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"


def check_length(value: str, limit: int, what: str) -> str:
    """Refuse text longer than the column that stores it (PostgreSQL enforces it, SQLite not)."""
    if len(value) > limit:
        raise InvalidArgument(f"{what} is {len(value)} characters long: at most {limit}")
    return value


def split_ref(ref: str) -> tuple[str, str]:
    """Split `NAME[@VERSION]` into (name, version); version is '' when absent."""
    name, _, version = ref.partition("@")
    return name, version
