"""`tuneloop predict` (answers from a served model) and `tuneloop serve-status` (what serving has
loaded and what each alias answers with)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tuneloop.cli.options import JsonOpt, ServerOpt
from tuneloop.cli.output import console, emit, errors_to_exit
from tuneloop.client import Client
from tuneloop.client.serving import request


def answer_dict(given: str, a) -> dict:
    out = {"input": given, "prediction_id": a.prediction_id, "model_version": a.model_version}
    if a.generated or not a.top:
        out["generated"] = a.generated
    else:
        out |= {"label": a.label, "top": [{"label": s.label, "probability": s.probability} for s in a.top]}
    return out | {"truncated": a.truncated, "logged": a.logged}


def render_answers(o: dict) -> None:
    rows = o["predictions"]
    if rows and "generated" in rows[0]:
        table = Table("prompt", "completion", "version", "prediction id")
        for r in rows:
            table.add_row(r["input"][:80], r["generated"], r["model_version"], r["prediction_id"])
    else:
        table = Table("input", "label", "probability", "next", "version", "prediction id")
        for r in rows:
            rest = ", ".join(f"{s['label']} {s['probability']:.3f}" for s in r["top"][1:3])
            table.add_row(r["input"][:80] + (" (cut)" if r["truncated"] else ""), r["label"],
                          f"{r['top'][0]['probability']:.3f}", rest, r["model_version"], r["prediction_id"])
    console.print(table)


def predict(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts (or prompts); none and no --image: one per line "
                                                          "of stdin.")] = None,
    model: Annotated[str, typer.Option(help="MODEL (its champion), MODEL:ALIAS or MODEL@VERSION.")] = "",
    image: Annotated[list[Path] | None, typer.Option(help="An image file to classify (repeatable).")] = None,
    top_k: Annotated[int, typer.Option(help="Classes returned per input (0: 5).")] = 0,
    max_new_tokens: Annotated[int, typer.Option(help="text-generation: tokens per completion (0: 32).")] = 0,
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Predict with a served model: the label and its probabilities (or a completion), the exact
    version that answered and an id to send feedback with."""
    if not model:
        raise typer.BadParameter("--model is required", param_hint="--model")
    with errors_to_exit():
        if image:
            given = [str(p) for p in image]
            requests = [request(model, image=p.read_bytes(), top_k=top_k) for p in image]
        else:
            given = list(texts) if texts else [line.rstrip("\n") for line in sys.stdin if line.strip()]
            if not given:
                raise typer.BadParameter("no input: give texts as arguments, or lines on stdin")
            requests = [request(model, t, top_k=top_k, max_new_tokens=max_new_tokens) for t in given]
        with Client(address) as client:
            if len(requests) == 1:
                answers = [client.serving.send(requests[0])]
            else:
                answers = list(client.serving.predict_stream(requests, timeout=600))
    emit({"predictions": [answer_dict(g, a) for g, a in zip(given, answers, strict=True)]}, as_json, render_answers)


def _live(x) -> dict:
    return {"feedback": x.feedback, "accuracy": x.accuracy, "f1_macro": x.f1_macro, "label_shift": x.label_shift,
            "length_shift": x.length_shift, "unseen_words": x.unseen_words}


def serve_status(address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """The versions serving has loaded, the routes (MODEL:ALIAS, MODEL@VERSION) each answers,
    their request and batch counts, and their accuracy on the latest feedback."""
    with errors_to_exit(), Client(address) as client:
        versions = client.serving.status()
        live = {v.model_version: client.serving.live(v.model_version)[0] for v in versions}
    obj = {"versions": [{"model_version": v.model_version, "task": v.task, "serves": list(v.serves),
                         "requests": v.requests, "batches": v.batches, "in_flight": v.in_flight, "queued": v.queued,
                         "live": _live(live[v.model_version])}
                        for v in versions]}

    def render(o: dict) -> None:
        if not o["versions"]:
            console.print("nothing loaded yet: a version is loaded on its first request")
            return
        table = Table("version", "task", "serves", "requests", "batches", "mean batch", "in flight", "queued",
                      "feedback", "live accuracy", "label shift")
        for v in o["versions"]:
            mean = f"{v['requests'] / v['batches']:.1f}" if v["batches"] else "-"
            live = v["live"]
            table.add_row(v["model_version"], v["task"], ", ".join(v["serves"]) or "(unloading)", str(v["requests"]),
                          str(v["batches"]), mean, str(v["in_flight"]), str(v["queued"]), str(live["feedback"]),
                          f"{live['accuracy']:.3f}" if live["feedback"] else "-", f"{live['label_shift']:.2f}")
        console.print(table)

    emit(obj, as_json, render)


def show_served(client: Client, model: str, dataset: str, *, n: int = 6) -> None:
    """The demo's last step: the champion answers a few test rows (one of each label in turn)
    through serving, shown beside their true label (or reference completion); for a classifier
    the true labels then go back as feedback, and its live accuracy on them is shown."""
    by_label: dict[str, list] = {}
    for row in client.dataprep.read_split(dataset, "", "test"):
        by_label.setdefault(row.label, []).append(row)
    rows = [r for turn in itertools.zip_longest(*by_label.values()) for r in turn if r is not None][:n]
    answers = list(client.serving.predict_stream([request(f"{model}:champion", r.text, top_k=1) for r in rows],
                                                 timeout=600))
    generation = bool(answers) and not answers[0].top
    table = Table("input", "reference" if generation else "true label", "answer", "version")
    for row, a in zip(rows, answers, strict=True):
        shown = a.generated if generation else f"{a.label} ({a.top[0].probability:.2f})"
        mark = "" if generation else " ✓" if a.label == row.label else " ✗"
        table.add_row(row.text.split("\n", 1)[0][:70], row.label, shown + mark, a.model_version)
    console.print(table)
    if generation or not answers:
        return
    for row, a in zip(rows, answers, strict=True):
        client.serving.feedback(a.prediction_id, row.label)
    [live] = client.serving.live(answers[0].model_version)
    console.print(f"feedback: the true labels went back (`tuneloop feedback ID LABEL`); {live.model_version}'s live "
                  f"accuracy on its {live.feedback} feedback rows: {live.accuracy:.3f}")
