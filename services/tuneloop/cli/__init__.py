"""The `tuneloop` command: run the services (`up`, `serve`), the demo, and client commands.

Client commands find the server from `--address`, else `TUNELOOP_ADDRESS`, else
127.0.0.1:50051 (`TUNELOOP_<SERVICE>_ADDRESS` overrides one service). With `--json`
they print exactly one JSON object on stdout; errors go to stderr with exit code != 0.
"""

from __future__ import annotations

import os

# Ray forks worker processes from a process that runs gRPC: gRPC's INFO line about skipping
# its fork handlers is noise to a CLI user. Set before grpc is first imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import logging  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

import typer  # noqa: E402

from tuneloop.app import SERVICES, start  # noqa: E402
from tuneloop.cli import board, data, evaluate, feedback, loop, models, ops, predict, report, sweep, train  # noqa: E402
from tuneloop.cli.demo import demo  # noqa: E402
from tuneloop.cli.options import BindOpt  # noqa: E402
from tuneloop.cli.output import console, err_console  # noqa: E402
from tuneloop.client.settings import ClientSettings  # noqa: E402
from tuneloop.core.server import catch_stop_signals  # noqa: E402
from tuneloop.core.settings import (  # noqa: E402
    ControllerSettings,
    DataprepSettings,
    RayJobSettings,
    RegistrySettings,
    ServerSettings,
    ServingSettings,
    TrainerSettings,
)

app = typer.Typer(rich_markup_mode=None, help="tuneloop: fine-tune, evaluate and keep a better model in production.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(train.jobs_app, name="jobs")
app.add_typer(evaluate.app, name="eval")
app.add_typer(loop.app, name="loop")
app.command(help="Fine-tune a registered model on a dataset version with Ray Train.")(train.train)
app.command(help="Search hyperparameters with Ray Tune and register the best trial.")(sweep.sweep)
app.command(help="Run the demo: prepare BBC News on embedded defaults and print the story.")(demo)
app.command()(board.tensorboard)
app.command()(report.report)
app.command()(predict.predict)
app.command(name="serve-status")(predict.serve_status)
app.command()(feedback.feedback)
app.command(name="append-feedback")(feedback.append_feedback)
app.command()(ops.migrate)
app.command()(ops.health)


def _server_settings(data_dir: Path | None, address: str | None, metrics_port: int | None,
                     workers: int | None) -> ServerSettings:
    overrides = {"data_dir": data_dir, "address": address, "metrics_port": metrics_port, "workers": workers}
    return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})


DataDirOpt = Annotated[Path | None, typer.Option(help="State folder (env TUNELOOP_DATA_DIR; default ~/.tuneloop).")]
MetricsOpt = Annotated[int | None, typer.Option(help="Serve Prometheus /metrics on this port.")]
WorkersOpt = Annotated[int | None, typer.Option(help="gRPC worker threads.")]


def _run(services: list[str], settings: ServerSettings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop_requested = catch_stop_signals()
    try:
        server = start(settings, services)
    except (OSError, ValueError, RuntimeError) as exc:
        err_console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(1) from None
    metrics = f", metrics on :{server.metrics_port}" if server.metrics_port else ""
    console.print(f"tuneloop serving {', '.join(services)} on port {server.port}{metrics} "
                  f"(data in {settings.data_dir}); Ctrl-C stops")
    server.wait(stop_requested)


@app.command()
def up(data_dir: DataDirOpt = None, address: BindOpt = None, metrics_port: MetricsOpt = None,
       workers: WorkersOpt = None) -> None:
    """Run every service on one gRPC address with embedded defaults, until SIGINT/SIGTERM."""
    _run(list(SERVICES), _server_settings(data_dir, address, metrics_port, workers))


@app.command()
def serve(service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}.")],
          data_dir: DataDirOpt = None, address: BindOpt = None, metrics_port: MetricsOpt = None,
          workers: WorkersOpt = None) -> None:
    """Run one service alone (how containers run it)."""
    if service not in SERVICES:
        err_console.print(f"[red]error[/red]: unknown service {service!r}; choose from {', '.join(SERVICES)}")
        raise typer.Exit(2)
    _run([service], _server_settings(data_dir, address, metrics_port, workers))


@app.command()
def settings() -> None:
    """Print every setting with its environment variable, current value and meaning."""
    from rich.table import Table

    table = Table("variable", "value", "meaning")
    from tuneloop.core.storage import StorageSettings

    for obj in (ServerSettings(), StorageSettings(), DataprepSettings(), RegistrySettings(), TrainerSettings(),
                RayJobSettings(), ControllerSettings(), ServingSettings(), ClientSettings()):
        prefix = obj.model_config["env_prefix"]
        for name, field in type(obj).model_fields.items():
            value = getattr(obj, name)
            shown = "***" if "token" in name and value else str(value)
            table.add_row(f"{prefix}{name.upper()}", shown, field.description or "")
    console.print(table)


def main() -> None:
    app()
