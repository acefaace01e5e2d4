"""Prometheus metrics of the registry service."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import Counter

VERSIONS_CREATED = Counter("tuneloop_registry_versions_created_total", "Model versions created, by kind.", ["kind"])
BYTES_UPLOADED = Counter("tuneloop_registry_bytes_uploaded_total", "Artifact bytes received by uploads.")
BYTES_DOWNLOADED = Counter("tuneloop_registry_bytes_downloaded_total", "Artifact bytes sent by downloads.")
ALIAS_MOVES = Counter("tuneloop_registry_alias_moves_total", "Aliases created, moved or deleted.")


def count_bytes(chunks: Iterable[tuple], counter: Counter) -> Iterator[tuple]:
    """Pass (path, data, ...) chunks through, counting their bytes."""
    for chunk in chunks:
        counter.inc(len(chunk[1]))
        yield chunk
