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
        raise InvalidArgument(f"{what} {name!r} contains path characters")
    if not _NAME.match(name):
        raise InvalidArgument(
            f"{what} {name!r} is invalid: use letters, digits, '.', '_' and '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return name


def split_ref(ref: str) -> tuple[str, str]:
    """Split `NAME[@VERSION]` into (name, version); version is '' when absent."""
    name, _, version = ref.partition("@")
    return name, version
