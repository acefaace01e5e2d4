"""`tuneloop report MODEL[@V|:ALIAS] --output report.html`: the model report (`tuneloop.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuneloop.cli.options import JsonOpt, ServerOpt
from tuneloop.cli.output import console, emit, errors_to_exit
from tuneloop.client import Client


def report(
    ref: Annotated[str, typer.Argument(metavar="MODEL", help="NAME, NAME@VERSION or NAME:ALIAS")],
    output: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    dataset: Annotated[str, typer.Option(help="NAME[@VERSION] evaluated on; default: the one it was trained on.")] = "",
    split: Annotated[str, typer.Option(help="train, validation or test.")] = "test",
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Write one self-contained HTML report of a model version: curves, scores, plots, timeline."""
    with errors_to_exit(), Client(address) as client:
        result = write_report(client, ref, output, dataset=dataset, split=split)

    def render_result(o: dict) -> None:
        console.print(f"wrote {o['output']} ({o['bytes']:,} bytes): the report of {o['model']}", soft_wrap=True)
        for part, why in o["missing"].items():
            console.print(f"  [yellow]missing {part}:[/yellow] {why}", soft_wrap=True)

    emit(result, as_json, render_result)


def write_report(client: Client, ref: str, output: Path, *, dataset: str = "", split: str = "test") -> dict:
    """Gather, render and write the report (whole or not at all); what was written, and what is missing."""
    from tuneloop.report import gather, render

    data = gather(client, ref, dataset=dataset, split=split)
    page = render(data)
    return {"model": data["model"], "output": str(write_page(output, page)), "bytes": len(page.encode()),
            "missing": data["missing"]}


def write_page(output: Path, page: str) -> Path:
    """Write the page whole or not at all (aside, then renamed into place); its absolute path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.part")
    partial.write_text(page, encoding="utf-8")
    partial.replace(output)
    return output.resolve()
