"""`tuneloop train` and `tuneloop jobs ...`: submit fine-tuning jobs and follow them."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tuneloop.cli.options import JsonOpt, ServerOpt, train_options
from tuneloop.cli.output import console, emit, errors_to_exit
from tuneloop.client import Client
from tuneloop.client.trainer import state_name

jobs_app = typer.Typer(rich_markup_mode=None, help="List, inspect, follow and cancel training jobs.", no_args_is_help=True)



def job_dict(job) -> dict:
    return {
        "job": job.id, "state": state_name(job.state), "model": job.model or None,
        "task": json.loads(job.spec_json or "{}").get("task") or "text-classification",
        "metrics": {k: job.metrics[k] for k in ("val_f1_macro", "val_accuracy", "val_loss", "val_perplexity",
                                                "train_loss") if k in job.metrics},
        "samples_per_second": job.metrics.get("samples_per_second"), "tensorboard": job.tensorboard or None,
        "dataset": job.dataset, "base_model": job.base_model, "error": job.error or None,
        "warnings": list(job.warnings),
    }


def render_job(o: dict) -> None:
    colour = {"SUCCEEDED": "green", "FAILED": "red", "CANCELLED": "yellow"}.get(o["state"], "cyan")
    console.print(f"[bold]{o['job']}[/bold] [{colour}]{o['state']}[/{colour}]  {o['base_model']} on {o['dataset']}"
                  + (f" -> [bold]{o['model']}[/bold]" if o["model"] else ""))
    if o["metrics"]:
        console.print("  " + ", ".join(f"{k}={v:.4f}" for k, v in o["metrics"].items())
                      + (f", {o['samples_per_second']:.1f} samples/s" if o["samples_per_second"] else ""))
    if o["error"]:
        console.print(f"  [red]{o['error']}[/red]")
    for warning in o["warnings"]:
        console.print(f"  [bold yellow]warning:[/bold yellow] {warning}")
    if o["tensorboard"]:
        console.print(f"  tensorboard --logdir {o['tensorboard']}")


def follow(client: Client, job_id: str, *, quiet: bool) -> None:
    """Follow a job's events with a progress bar (steps of the whole run) until it ends."""
    spec = json.loads(client.trainer.get(job_id).spec_json)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, disable=quiet,
                  transient=False) as bar:
        task = bar.add_task(job_id, total=None, info="queued")
        for msg in client.trainer.watch(job_id, timeout=24 * 3600):
            data = json.loads(msg.event.data_json)
            if msg.event.type == "state":
                bar.update(task, info=data["state"].lower())
            elif msg.event.type == "step":
                total = data.get("total_steps") or bar.tasks[0].total
                bar.update(task, completed=data["step"], total=total,
                           info=f"epoch {data['epoch'] + 1}/{spec['epochs']} loss {data['loss']:.3f} "
                                f"{data['samples_per_second']:.1f}/s")
            elif msg.event.type == "epoch" and not quiet:
                bar.console.print(f"  epoch {data['epoch'] + 1}: " + _validation(data))
            elif msg.event.type == "class_weights" and not quiet:
                weights = ", ".join(f"{label} {w:.2f}" for label, w in data["weights"].items())
                bar.console.print(f"  imbalanced labels: loss weights {weights}")
            elif msg.event.type == "resumed":
                bar.console.print(f"  resumed from step {data['step']}") if not quiet else None


def _validation(metrics: dict) -> str:
    if "val_f1_macro" in metrics:
        return f"val macro-F1 {metrics['val_f1_macro']:.4f}, accuracy {metrics['val_accuracy']:.4f}"
    return f"val loss {metrics['val_loss']:.4f}, perplexity {metrics['val_perplexity']:.2f}"


@train_options()
def train(
    dataset: Annotated[str, typer.Option(help="NAME[@VERSION] of the dataset.")],
    base_model: Annotated[str, typer.Option(help="NAME[@VERSION|:ALIAS] to start from.")],
    model: Annotated[str, typer.Option(help="Name of the model to register the result as.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job until it ends.")] = False,
    address: ServerOpt = None, as_json: JsonOpt = False, train: dict | None = None,
) -> None:
    """Fine-tune a registered model on a dataset version with Ray Train."""
    with errors_to_exit(), Client(address) as client:
        job = client.trainer.submit(dataset=dataset, base_model=base_model, model=model, **(train or {}))
        if wait:
            follow(client, job.id, quiet=as_json)
            job = client.trainer.get(job.id)
    emit(job_dict(job), as_json, render_job)
    if wait and state_name(job.state) != "SUCCEEDED":
        raise typer.Exit(1)


@jobs_app.command("list")
def list_(address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Every job, newest first."""
    with errors_to_exit(), Client(address) as client:
        jobs = [job_dict(j) for j in client.trainer.list()]

    def render(o: dict) -> None:
        table = Table("job", "state", "task", "dataset", "base", "model", "validation")
        for j in o["jobs"]:
            table.add_row(j["job"], j["state"], j["task"], j["dataset"], j["base_model"], j["model"] or "",
                          _validation(j["metrics"]) if {"val_f1_macro", "val_loss"} & set(j["metrics"]) else "")
        console.print(table)

    emit({"jobs": jobs}, as_json, render)


@jobs_app.command()
def show(job: str, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """One job (a sweep's with its trials)."""
    from tuneloop.cli.sweep import render_sweep, sweep_dict

    with errors_to_exit(), Client(address) as client:
        found = client.trainer.get(job)
    if found.HasField("sweep"):
        emit(sweep_dict(found), as_json, render_sweep)
    else:
        emit(job_dict(found), as_json, render_job)


@jobs_app.command()
def watch(job: str, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Follow a job until it ends (with --json: its final state)."""
    with errors_to_exit(), Client(address) as client:
        follow(client, job, quiet=as_json)
        emit(job_dict(client.trainer.get(job)), as_json, render_job)


@jobs_app.command()
def cancel(job: str, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel a queued or running job (nothing is registered)."""
    with errors_to_exit(), Client(address) as client:
        emit(job_dict(client.trainer.cancel(job)), as_json, render_job)
