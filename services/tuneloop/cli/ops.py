"""`tuneloop migrate` and `tuneloop health`: what an operator (and the Helm chart's hooks) runs.

`migrate` brings the database schema to the newest revision, under the same lock the services
take, so the chart runs it once in a pre-install/pre-upgrade Job and the pods only check the
schema. `health` asks every service for its gRPC health (the chart's `helm test` runs it) and
exits 1 when one is not SERVING.
"""

from __future__ import annotations

from typing import Annotated

import grpc
import typer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.table import Table

from tuneloop.app import SERVICES
from tuneloop.cli.options import JsonOpt
from tuneloop.cli.output import console, emit, err_console, errors_to_exit
from tuneloop.client.base import ServiceClient, open_channel
from tuneloop.client.settings import ClientSettings


def migrate(database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default: the services' "
                                                               "(TUNELOOP_DATABASE_URL, else the embedded SQLite).")]
            = None, as_json: JsonOpt = False) -> None:
    """Migrate the database schema to the newest revision (once, under a lock)."""
    import sqlalchemy as sa

    from tuneloop.core.db import check_current, create_engine
    from tuneloop.core.db import migrate as upgrade
    from tuneloop.core.settings import ServerSettings

    with errors_to_exit():
        try:
            engine = create_engine(database_url or ServerSettings().resolved_database_url())
        except sa.exc.ArgumentError as exc:  # not a URL SQLAlchemy can parse: a usage error (exit 2)
            raise ValueError(f"the database URL: {exc}") from None
        try:
            upgrade(engine)
            revision = check_current(engine)
        except sa.exc.OperationalError as exc:  # the server is not there, or refused us
            err_console.print(f"[red]error[/red]: cannot reach {engine.url.render_as_string(hide_password=True)}: "
                              f"{str(exc.orig).strip().splitlines()[0]}", highlight=False)
            raise typer.Exit(1) from None
        finally:
            engine.dispose()
    emit({"database": engine.url.render_as_string(hide_password=True), "revision": revision}, as_json,
         lambda o: console.print(f"{o['database']} is at schema revision {o['revision']}"))


class _HealthClient(ServiceClient):
    stub_class = health_pb2_grpc.HealthStub


def _status(address: str, service: str, settings: ClientSettings, timeout: float) -> str:
    channel = open_channel(address, settings)
    try:
        reply = _HealthClient(channel, settings.auth_token, timeout)._call(
            "Check", health_pb2.HealthCheckRequest(service=f"tuneloop.v1.{service.capitalize()}Service"))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.RpcError as exc:
        return f"{exc.code().name}: {exc.details()}"
    finally:
        channel.close()


def health(services: Annotated[list[str] | None, typer.Argument(help=f"Which: {', '.join(SERVICES)} (default: all).")]
           = None, timeout: Annotated[float, typer.Option(help="Seconds per check.")] = 10.0,
           as_json: JsonOpt = False) -> None:
    """Check every service's gRPC health; exit 1 unless all are SERVING."""
    settings = ClientSettings()
    unknown = sorted(set(services or ()) - set(SERVICES))
    if unknown:
        raise typer.BadParameter(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(SERVICES)}")
    found = {s: {"address": settings.address_for(s), "status": _status(settings.address_for(s), s, settings, timeout)}
             for s in services or SERVICES}

    def render(o: dict) -> None:
        table = Table("service", "address", "status")
        for name, row in o.items():
            table.add_row(name, row["address"], row["status"])
        console.print(table)

    emit(found, as_json, render)
    if any(row["status"] != "SERVING" for row in found.values()):
        raise typer.Exit(1)
