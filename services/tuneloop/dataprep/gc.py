"""Dataprep's orphans: version folders whose row never came (a process killed mid-ingest) and
temporary files. See core.janitor."""

from __future__ import annotations

from collections import defaultdict

from tuneloop.core.artifacts import ArtifactStore
from tuneloop.dataprep.store import DatasetStore


def collect(store: DatasetStore, artifacts: ArtifactStore, grace: float) -> dict[str, int]:
    referenced = store.referenced_locations()
    youngest: defaultdict[str, float] = defaultdict(lambda: float("inf"))
    for key, age in artifacts.entries("datasets"):
        folder = key.rsplit("/", 1)[0]
        youngest[folder] = min(youngest[folder], age)
    removed = {"orphaned version folders": 0}
    for folder, age in youngest.items():
        if folder not in referenced and age > grace:
            artifacts.delete_prefix(folder)
            removed["orphaned version folders"] += 1
    return removed
