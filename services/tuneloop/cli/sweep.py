"""`tuneloop sweep`: a hyperparameter sweep on Ray Tune, submitted as a trainer job and followed.

The search space is a YAML (or JSON) file mapping options to ranges (see tuneloop.ml.space);
every other training flag fixes that option for all trials. `--wait` follows the trials as
they start, report each validated epoch, stop early (ASHA) or fail, then prints a table of
every trial and the registered best. `tuneloop jobs show` shows a sweep's trials too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tuneloop.cli.options import JsonOpt, ServerOpt, train_options
from tuneloop.cli.output import console, emit, errors_to_exit
from tuneloop.cli.train import job_dict, render_job
from tuneloop.client import Client
from tuneloop.client.trainer import state_name
from tuneloop.errors import InvalidArgument


def read_space(path: Path) -> dict:
    """The space file's mapping (YAML, so JSON too); a file that is neither names itself."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"cannot read the search space {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidArgument(f"the search space {path} must map options to ranges, e.g. "
                              "'learning_rate: {loguniform: [1e-5, 1e-3]}'")
    return raw


def sweep_dict(job) -> dict:
    out = job_dict(job)
    out["sweep"] = {"space": json.loads(job.sweep.space_json or "{}"), "trials": job.sweep.trials,
                    "max_concurrent": job.sweep.max_concurrent, "searcher": job.sweep.searcher,
                    "scheduler": job.sweep.scheduler, "reduction_factor": job.sweep.reduction_factor,
                    "grace_period": job.sweep.grace_period}
    out["trials"] = [{"trial": t.id, "state": t.state, "config": json.loads(t.config_json or "{}"),
                      "best_score": t.best_score if t.best_score == t.best_score else None, "epochs": t.epochs,
                      "seconds": round(t.seconds, 2), "error": t.error or None} for t in job.trials]
    return out


def render_sweep(o: dict) -> None:
    render_job(o)
    if s := o.get("sweep"):
        stopping = (f"ASHA (reduction factor {s['reduction_factor']}, grace period {s['grace_period']} epoch(s))"
                    if s["scheduler"] == "asha" else "no early stopping")
        console.print(f"search: {s['searcher']}, {s['trials']} trials, {s['max_concurrent']} at a time; {stopping}")
    if not o.get("trials"):
        return
    names = sorted({k for t in o["trials"] for k in t["config"]})
    table = Table("trial", "state", *names, "epochs", "best val", "seconds", title="trials")
    best = max((t["best_score"] for t in o["trials"] if t["best_score"] is not None), default=None)
    for t in sorted(o["trials"], key=lambda t: -(t["best_score"] if t["best_score"] is not None else -1e9)):
        score = "" if t["best_score"] is None else f"{t['best_score']:.4f}"
        mark = "bold green" if best is not None and t["best_score"] == best else ""
        table.add_row(t["trial"], t["state"], *[_short(t["config"].get(k)) for k in names], str(t["epochs"]),
                      score, f"{t['seconds']:.0f}", style=mark)
    console.print(table)
    for t in o["trials"]:
        if t["error"]:
            console.print(f"  [red]{t['trial']} failed:[/red] {t['error'].strip().splitlines()[-1]}")


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else "" if value is None else str(value)


def follow_sweep(client: Client, job_id: str, trials: int, *, quiet: bool) -> None:
    """Follow a sweep: a bar of finished trials, a line per trial event."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} trials"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, disable=quiet) as bar:
        task = bar.add_task(job_id, total=trials, info="queued")
        done = 0
        for msg in client.trainer.watch(job_id, timeout=7 * 24 * 3600):
            data, kind = json.loads(msg.event.data_json), msg.event.type
            if kind == "state":
                bar.update(task, info=data["state"].lower())
            elif kind == "trial_started" and not quiet:
                bar.console.print(f"  {data['trial']} started: "
                                  + ", ".join(f"{k}={_short(v)}" for k, v in data["config"].items()))
            elif kind == "trial_result" and not quiet:
                bar.console.print(f"  {data['trial']} epoch {data['epoch'] + 1}: val score "
                                  f"{data.get('val_score', float('nan')):.4f}")
            elif kind in ("trial_ended", "trial_failed"):
                done += 1
                bar.update(task, completed=done)
                if not quiet:
                    what = {"STOPPED": "stopped early", "ERROR": "failed"}.get(data["state"], "finished")
                    bar.console.print(f"  {data['trial']} {what} after {data['epochs']} epoch(s)")


@train_options()
def sweep(
    dataset: Annotated[str, typer.Option(help="NAME[@VERSION] of the dataset.")],
    base_model: Annotated[str, typer.Option(help="NAME[@VERSION|:ALIAS] to start from.")],
    model: Annotated[str, typer.Option(help="Name of the model to register the best trial as.")],
    space: Annotated[Path, typer.Option(help="YAML or JSON file: option -> {loguniform|uniform|randint: [low, high]}, "
                                              "{choice: [...]} or a constant.")],
    trials: Annotated[int, typer.Option(help="How many configurations to try.")] = 8,
    max_concurrent: Annotated[int, typer.Option(help="Trials run at once (each holds its workers' CPUs).")] = 1,
    searcher: Annotated[str, typer.Option(help="random, or tpe (Optuna's Tree-structured Parzen Estimator).")] = "random",
    early_stop: Annotated[bool, typer.Option("--early-stop/--no-early-stop",
                                             help="ASHA: stop trials outside the top 1/F at G, G*F, G*F*F... "
                                                  "epochs.")] = True,
    reduction_factor: Annotated[int, typer.Option("--reduction-factor", help="ASHA's F (2-16): at each rung "
                                                  "the top 1/F go on; lower: more rungs, each keeping more.")] = 2,
    grace_period: Annotated[int, typer.Option("--grace-period", help="ASHA's first rung, in epochs: no trial "
                                              "stops before it.")] = 1,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the sweep until it ends.")] = False,
    address: ServerOpt = None, as_json: JsonOpt = False, train: dict | None = None,
) -> None:
    """Search hyperparameters with Ray Tune (each trial a Ray Train run) and register the best trial."""
    options = dict(train or {})
    with errors_to_exit(), Client(address) as client:
        request = {"space": read_space(space), "trials": trials, "max_concurrent": max_concurrent,
                   "searcher": searcher, "scheduler": "asha" if early_stop else "none", "seed": options.get("seed", 0),
                   "reduction_factor": reduction_factor, "grace_period": grace_period}
        job = client.trainer.submit(dataset=dataset, base_model=base_model, model=model, sweep=request, **options)
        if wait:
            follow_sweep(client, job.id, trials, quiet=as_json)
            job = client.trainer.get(job.id)
    emit(sweep_dict(job), as_json, render_sweep)
    if wait and state_name(job.state) != "SUCCEEDED":
        raise typer.Exit(1)
