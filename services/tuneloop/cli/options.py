"""The options many commands share, and the training flags generated from the training spec.

`ServerOpt` is where a client command finds the server; `BindOpt` is where `up` and
`serve` listen: two different addresses, named apart. `train_options` adds one flag per
hyperparameter of `tuneloop.ml.spec.TrainSpec` to a command (help from the field's
description, the default shown), so `train`, `loop create` and `demo` can never disagree
with the spec; the command receives the flags given as one `train` dict.
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Callable
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import typer

from tuneloop.ml.spec import HYPERPARAMETERS, TrainSpec

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
ServerOpt = Annotated[str | None, typer.Option("--address", help="Server HOST:PORT (env TUNELOOP_ADDRESS).")]
BindOpt = Annotated[str | None, typer.Option("--address", help="gRPC bind HOST:PORT (default 127.0.0.1:50051).")]


def _option(name: str, *, default: Any, aliases: tuple[str, ...]) -> inspect.Parameter:
    field = TrainSpec.model_fields[name]
    flag = "--" + name.replace("_", "-")
    shown = default if default is not None else field.default
    described = field.description or name
    shown = "unset" if shown is None else "empty" if shown == "" else shown
    help_text = f"{described[:1].upper()}{described[1:]} (default {shown})."
    kind = field.annotation
    if get_origin(kind) in (Union, UnionType) and type(None) in get_args(kind) and kind != bool | None:
        kind = next(arg for arg in get_args(kind) if arg is not type(None))  # Optional[X]: the flag is X's
    if kind is bool or kind == bool | None:  # a tri-state flag: --x, --no-x, or neither (the default)
        option = typer.Option(f"{flag}/--no-{flag[2:]}", *aliases, help=help_text)
        annotation: Any = Annotated[bool | None, option]
    elif get_origin(kind) is Literal:
        choices = enum.Enum(f"{name}_choice", {value: value for value in get_args(kind)}, type=str)
        annotation = Annotated[choices | None, typer.Option(flag, *aliases, help=help_text)]
    else:
        annotation = Annotated[kind | None, typer.Option(flag, *aliases, help=help_text)]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def train_options(*, defaults: dict[str, Any] | None = None, aliases: dict[str, tuple[str, ...]] | None = None,
                  task_defaults: dict[str, dict[str, Any]] | None = None) -> Callable[[Callable], Callable]:
    """Give a command one flag per training option; it is called with `train=` the options
    given, over `defaults` (the command's own, shown in the help), or over `task_defaults[task]`
    when `--task` names one of those."""
    defaults, aliases, task_defaults = defaults or {}, aliases or {}, task_defaults or {}

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command)
        hints = get_type_hints(command, include_extras=True)  # the command's own annotations, resolved
        kept = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "train"]
        added = [_option(name, default=defaults.get(name), aliases=aliases.get(name, ())) for name in HYPERPARAMETERS]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            given = {name: getattr(v, "value", v) for name in HYPERPARAMETERS
                     if (v := kwargs.pop(name)) is not None}
            return command(*args, train=task_defaults.get(given.get("task", ""), defaults) | given, **kwargs)

        run.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in [*kept, *added]}
        return run

    return decorate
