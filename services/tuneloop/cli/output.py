"""How the CLI prints: one JSON object on stdout with --json, rich tables otherwise;
errors on stderr with the server's status and message, and a non-zero exit code."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator

import grpc
import typer
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


def counts_table(title: str, counts: dict, key: str = "", value: str = "rows") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(key)
    table.add_column(value, justify="right")
    for k, v in counts.items():
        table.add_row(str(k), f"{v:,}" if isinstance(v, int) else str(v))
    return table
