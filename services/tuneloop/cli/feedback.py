"""`tuneloop feedback` (the truth for an earlier prediction) and `tuneloop append-feedback` (the
feedback on a model's predictions becomes a new version of its training dataset)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tuneloop.cli.options import JsonOpt, ServerOpt
from tuneloop.cli.output import console, emit, errors_to_exit
from tuneloop.client import Client


def feedback(
    prediction_id: Annotated[str, typer.Argument(help="The id `tuneloop predict` printed.")],
    label: Annotated[str, typer.Argument(help="The true label (for a generation model: the right completion).")],
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Record the true label of an earlier prediction; `append-feedback` turns it into training data."""
    with errors_to_exit(), Client(address) as client:
        r = client.serving.feedback(prediction_id, label)
    obj = {"prediction_id": r.prediction_id, "model_version": r.model_version, "predicted": r.predicted,
           "label": r.label, "correct": r.correct}
    emit(obj, as_json, lambda o: console.print(
        f"{o['prediction_id']}: {o['model_version']} said {o['predicted']!r}, the truth is {o['label']!r} "
        + ("[green](right)[/green]" if o["correct"] else "[yellow](wrong)[/yellow]")))


def append_feedback(
    model: Annotated[str, typer.Argument(help="MODEL: the feedback on any of its versions' predictions.")],
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Append the feedback not appended yet to the datasets the model was trained on, through
    dataprep: deduplicated and split like any upload, as a new dataset version."""
    with errors_to_exit(), Client(address) as client:
        appended = client.serving.append_feedback(model)
    obj = {"appended": [{"dataset_version": a.dataset_version, "rows": a.rows, "created": a.created,
                         "dropped": dict(a.dropped)} for a in appended]}

    def render(o: dict) -> None:
        if not o["appended"]:
            console.print(f"no feedback on {model} waits to be appended")
            return
        table = Table("dataset version", "feedback rows", "new version", "dropped")
        for a in o["appended"]:
            dropped = ", ".join(f"{k} {v}" for k, v in sorted(a["dropped"].items()) if v) or "-"
            table.add_row(a["dataset_version"], str(a["rows"]), "yes" if a["created"] else "no (nothing new)", dropped)
        console.print(table)

    emit(obj, as_json, render)
