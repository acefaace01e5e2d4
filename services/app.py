"""Assembling services: build each core from settings and host them on one gRPC server.

`tuneloop up` hosts every service in SERVICES on one address; `tuneloop serve NAME`
hosts one. Both go through `start`, so a service behaves the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from tuneloop.core.artifacts import ArtifactStore
from tuneloop.core.db import open_database
from tuneloop.core.server import Registration, Server, build_server
from tuneloop.core.settings import DataprepSettings, RegistrySettings, ServerSettings


def _dataprep(engine: sa.Engine, artifacts: ArtifactStore) -> Registration:
    from tuneloop.dataprep.core import DataprepCore
    from tuneloop.dataprep.servicer import registration
    from tuneloop.dataprep.store import DatasetStore

    return registration(DataprepCore(DatasetStore(engine, artifacts), DataprepSettings()))


def _registry(engine: sa.Engine, artifacts: ArtifactStore) -> Registration:
    from tuneloop.registry.core import RegistryCore
    from tuneloop.registry.servicer import registration
    from tuneloop.registry.store import RegistryStore

    return registration(RegistryCore(RegistryStore(engine), artifacts, RegistrySettings()))


SERVICES: dict[str, Callable[[sa.Engine, ArtifactStore], Registration]] = {
    "dataprep": _dataprep,
    "registry": _registry,
}


def start(settings: ServerSettings, services: Sequence[str] = tuple(SERVICES)) -> Server:
    """Open the store, build every named service and start serving."""
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        raise ValueError(f"unknown service {', '.join(unknown)}: choose from {', '.join(SERVICES)}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_database(settings.resolved_database_url())
    artifacts = ArtifactStore(settings.resolved_artifact_url())
    return build_server(settings, [SERVICES[name](engine, artifacts) for name in services])
