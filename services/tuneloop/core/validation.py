"""Building pydantic models from user input, with failures as InvalidArgument naming the field."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from tuneloop.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)


def build(cls: type[M], what: str, /, **values) -> M:
    """`cls(**values)` with None values left to their defaults; a validation failure is
    InvalidArgument("invalid <what> <field>: <reason>"; a check of
    several fields together has no <field>). (Positional-only parameters, so any
    field name, `model` included, can be passed as a value.)"""
    try:
        return cls(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InvalidArgument(f"invalid {what} {field}: {err['msg']}" if field else
                              f"invalid {what}: {err['msg'].removeprefix('Value error, ')}") from exc
