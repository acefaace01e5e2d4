"""`tuneloop loop ...`: retraining policies and the runs the controller drives."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tuneloop.cli.options import JsonOpt, ServerOpt, train_options
from tuneloop.cli.output import console, emit, errors_to_exit
from tuneloop.cli.report import write_page
from tuneloop.client import Client

app = typer.Typer(rich_markup_mode=None, help="Continuous retraining: policies and their runs.",
                  no_args_is_help=True)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str | None) -> float | None:
    """'90s', '15m', '6h', '1d' (or plain seconds) as seconds."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 15m, 6h or 1d")
    return float(match.group(1)) * _UNITS.get(match.group(2) or "s", 1)


def run_dict(r) -> dict:
    return {"id": r.id, "state": r.state, "trigger": r.trigger, "dataset": r.dataset or None,
            "candidate": r.candidate or None, "champion_before": r.champion_before or None,
            "champion_after": r.champion_after or None, "verdict": r.verdict or None, "reasons": list(r.reasons),
            "error": r.error or None,
            "started": r.started.ToDatetime().isoformat() + "Z",
            "finished": r.finished.ToDatetime().isoformat() + "Z" if r.HasField("finished") else None}


def policy_dict(p) -> dict:
    return {"name": p.name, "paused": p.paused, "spec": json.loads(p.spec_json)}


def render_runs(o: dict) -> None:
    table = Table("run", "state", "trigger", "dataset", "candidate", "champion before → after", "verdict")
    for r in o["runs"]:
        table.add_row(r["id"], r["state"], r["trigger"], r["dataset"] or "", r["candidate"] or "",
                      f"{r['champion_before'] or '-'} → {r['champion_after'] or '-'}", r["verdict"] or "")
    console.print(table)


@app.command()
@train_options()
def create(
    name: str,
    dataset: Annotated[str, typer.Option(help="Dataset NAME to watch.")],
    base_model: Annotated[str, typer.Option(help="NAME[@VERSION|:ALIAS] to fine-tune.")],
    model: Annotated[str, typer.Option(help="Output model; the loop keeps its `champion` alias.")],
    continue_from_champion: Annotated[bool, typer.Option(help="Train from the champion once there is one.")] = False,
    min_new_rows: Annotated[int | None, typer.Option(help="New rows that start a run (1).")] = None,
    every: Annotated[str | None, typer.Option(help="Also retrain on a schedule: 90s, 15m, 6h, 1d.")] = None,
    drift_threshold: Annotated[float | None, typer.Option(help="Label shift that starts a run anyway.")] = None,
    live_min_accuracy: Annotated[float | None, typer.Option(help="Retrain when the champion's accuracy on live "
                                                                 "feedback falls below this.")] = None,
    live_alpha: Annotated[float | None, typer.Option(help="Retrain when the champion's live accuracy is "
                                                          "significantly below its test accuracy at this level.")] = None,
    live_min_feedback: Annotated[int | None, typer.Option(help="Feedback rows needed before a live check fires "
                                                               "(30).")] = None,
    shadow_requests: Annotated[int | None, typer.Option(help="Before promoting over a champion, the candidate "
                                                             "shadows this many requests.")] = None,
    shadow_period: Annotated[str | None, typer.Option(help="... and for at least this long: 90s, 15m, 6h.")] = None,
    shadow_min_feedback: Annotated[int | None, typer.Option(help="... and until this many shadowed requests have "
                                                                 "feedback (0).")] = None,
    shadow_max_drop: Annotated[float | None, typer.Option(help="How far below the champion's its accuracy on the "
                                                                "shadowed requests' feedback may be (0).")] = None,
    min_improvement: Annotated[float | None, typer.Option(help="Macro-F1 gain needed to promote (0).")] = None,
    alpha: Annotated[float | None, typer.Option(help="Significance level (0.05).")] = None,
    max_class_drop: Annotated[float | None, typer.Option(help="Largest per-class F1 drop allowed (0.05).")] = None,
    min_f1: Annotated[float | None, typer.Option(help="Floor for the first champion's macro-F1 (0).")] = None,
    sweep_space: Annotated[Path | None, typer.Option(help="Retrain with a sweep over this search space (YAML, as "
                                                          "`tuneloop sweep --space`) instead of fixed options.")] = None,
    sweep_trials: Annotated[int, typer.Option(help="Trials of each run's sweep.")] = 4,
    sweep_max_concurrent: Annotated[int, typer.Option(help="Trials of a sweep run at once.")] = 1,
    address: ServerOpt = None, as_json: JsonOpt = False, train: dict | None = None,
) -> None:
    """Create a retraining policy (its training options are those of `tuneloop train`)."""
    from tuneloop.cli.sweep import read_space

    with errors_to_exit(), Client(address) as client:
        sweep = {"space": read_space(sweep_space), "trials": sweep_trials,
                 "max_concurrent": sweep_max_concurrent} if sweep_space else None
        policy = client.controller.create_policy(
            name, dataset=dataset, base_model=base_model, model=model, continue_from_champion=continue_from_champion,
            train=train or {}, min_new_rows=min_new_rows, every_seconds=duration(every), drift_threshold=drift_threshold,
            live_min_accuracy=live_min_accuracy, live_alpha=live_alpha, live_min_feedback=live_min_feedback,
            shadow_requests=shadow_requests, shadow_seconds=duration(shadow_period), shadow_max_drop=shadow_max_drop,
            shadow_min_feedback=shadow_min_feedback,
            min_improvement=min_improvement, alpha=alpha, max_class_drop=max_class_drop, min_f1=min_f1, sweep=sweep)
    emit(policy_dict(policy), as_json, lambda o: console.print_json(data=o))


@app.command("list")
def list_(address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Every policy."""
    with errors_to_exit(), Client(address) as client:
        items = [policy_dict(p) for p in client.controller.policies()]
    emit({"policies": items}, as_json, lambda o: console.print_json(data=o))


def _pause(name: str, paused: bool, address: str | None, as_json: bool) -> None:
    with errors_to_exit(), Client(address) as client:
        emit(policy_dict(client.controller.set_paused(name, paused)), as_json,
             lambda o: console.print(f"{o['name']}: {'paused' if o['paused'] else 'running'}"))


@app.command()
def pause(name: str, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Stop starting new runs for a policy (runs in flight finish)."""
    _pause(name, True, address, as_json)


@app.command()
def resume(name: str, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Start runs for a paused policy again."""
    _pause(name, False, address, as_json)


@app.command()
def trigger(name: str, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Start a run now on the newest dataset version."""
    with errors_to_exit(), Client(address) as client:
        emit(run_dict(client.controller.trigger(name)), as_json, lambda o: console.print(f"started {o['id']}"))


@app.command()
def rollback(name: str, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Point the champion back at the previous champion, now."""
    with errors_to_exit(), Client(address) as client:
        emit(run_dict(client.controller.rollback(name)), as_json,
             lambda o: console.print(f"champion {o['champion_before']} → {o['champion_after']}"))


@app.command()
def runs(name: str, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Every run of a policy, oldest first."""
    with errors_to_exit(), Client(address) as client:
        emit({"runs": [run_dict(r) for r in client.controller.runs(name)]}, as_json, render_runs)


@app.command()
def report(run: Annotated[str, typer.Argument(help="The run's id (`tuneloop loop runs NAME`).")],
           output: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
           address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Download the report the controller stored when it decided a run (its candidate's)."""
    with errors_to_exit(), Client(address) as client:
        model, page = client.controller.report(run)
    written = write_page(output, page)
    emit({"run": run, "model": model, "output": str(written), "bytes": len(page.encode())}, as_json,
         lambda o: console.print(f"wrote {o['output']} ({o['bytes']:,} bytes): run {o['run']}'s report of "
                                 f"{o['model']}", soft_wrap=True))
