"""How the CLI prints: one JSON object on stdout with --json, rich tables otherwise;
errors on stderr with the server's status and message, and a non-zero exit code."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator

import grpc
import typer
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table


def _console(*, stderr: bool = False) -> Console:
    """A terminal gets rich's width; piped output is never wrapped or truncated (one error line,
    whole table cells, in a log or a pipe)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=100_000, soft_wrap=True)


console = _console()
err_console = _console(stderr=True)


def rule(title: str = "") -> None:
    """A section rule: the terminal's width, or 100 columns off a terminal (where the console
    is as wide as a line needs, and a rule would be 100,000 characters)."""
    from rich.rule import Rule

    console.print(Rule(title), width=min(console.width, 100))


def emit(obj: dict, as_json: bool, render: Callable[[dict], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False, sort_keys=False) + "\n")
    else:
        render(obj)


@contextlib.contextmanager
def errors_to_exit() -> Iterator[None]:
    """Turn a failed call into `error: CODE: message` on stderr and exit code 1 (2 for usage)."""
    try:
        yield
    except grpc.RpcError as exc:
        err_console.print(f"[red]error[/red]: {exc.code().name}: {exc.details()}", markup=True, highlight=False)
        raise typer.Exit(2 if exc.code() == grpc.StatusCode.INVALID_ARGUMENT else 1) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError, ValueError) as exc:
        err_console.print(f"[red]error[/red]: {exc}", highlight=False)
        raise typer.Exit(2) from None


_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
          FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}


def plain(msg: Message) -> dict:
    """A message as plain JSON values, every field present: unlike protobuf's JSON mapping,
    64-bit integers stay numbers (not strings)."""
    def value(field: FieldDescriptor, v):
        if field.message_type is not None:
            return plain(v)
        if field.enum_type is not None:
            return field.enum_type.values_by_number[v].name if v in field.enum_type.values_by_number else v
        return int(v) if field.type in _INT64 else v

    out: dict = {}
    for field in msg.DESCRIPTOR.fields:
        v = getattr(msg, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name["value"]
            out[field.name] = {k: value(entry, item) for k, item in v.items()}
        elif field.is_repeated:
            out[field.name] = [value(field, item) for item in v]
        elif field.message_type is not None and not msg.HasField(field.name):
            out[field.name] = None
        else:
            out[field.name] = value(field, v)
    return out


def counts_table(title: str, counts: dict, key: str = "", value: str = "rows") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(key)
    table.add_column(value, justify="right")
    for k, v in counts.items():
        table.add_row(str(k), f"{v:,}" if isinstance(v, int) else str(v))
    return table
