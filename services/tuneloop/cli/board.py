"""`tuneloop tensorboard MODEL`: where a model's TensorBoard runs are, and TensorBoard on them.

Every version the trainer registered has a run (`ml.board`), named by its `tensorboard` tag in
the registry; their common parent is the model's log root. With TensorBoard installed (and
neither --print nor --json) the command starts it on that root; otherwise it prints the command.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Annotated

import typer
from rich.table import Table

from tuneloop.cli.options import JsonOpt, ServerOpt
from tuneloop.cli.output import console, emit, errors_to_exit
from tuneloop.client import Client
from tuneloop.ml.board import TAG  # the registry tag the trainer sets: its run's URL


def tensorboard(
    model: Annotated[str, typer.Argument(help="The model's NAME.")],
    print_only: Annotated[bool, typer.Option("--print", help="Print the command, do not start TensorBoard.")] = False,
    port: Annotated[int, typer.Option(help="TensorBoard's port.")] = 6006,
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show a model's versions side by side in TensorBoard (or print how to)."""
    with errors_to_exit(), Client(address) as client:
        versions = client.registry.search(model=model, order_by="version", ascending=True, limit=10_000)
    runs = [{"version": f"{v.model}@{v.version}", "run": v.tags[TAG], "aliases": list(v.aliases)}
            for v in versions if v.tags.get(TAG)]
    if not runs:
        console.print(f"[red]error:[/red] no version of {model!r} has a TensorBoard run: runs are written for "
                      "versions the trainer registers")
        raise typer.Exit(1)
    root = runs[-1]["run"].rsplit("/", 1)[0]
    command = ["tensorboard", "--logdir", root, "--host", "127.0.0.1", "--port", str(port)]
    found = {"model": model, "logdir": root, "command": " ".join(command), "runs": runs}
    installed = shutil.which("tensorboard")
    if print_only or as_json or not installed:

        def render(o: dict) -> None:
            table = Table("version", "aliases", "run")
            for r in o["runs"]:
                table.add_row(r["version"], ", ".join(r["aliases"]), r["run"])
            console.print(table)
            console.print(f"log directory: {o['logdir']}\n{o['command']}", soft_wrap=True)

        emit(found, as_json, render)
        return
    console.print(f"TensorBoard on {root}: http://127.0.0.1:{port}/ (Ctrl-C stops it)", soft_wrap=True)
    raise typer.Exit(subprocess.call([installed, *command[1:]]))
