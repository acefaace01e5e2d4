"""The registry's orphans: upload temp files a killed process left, and blobs no version holds
(the files a failed upload had completed before it failed). See core.janitor."""

from __future__ import annotations

from tuneloop.core.artifacts import ArtifactStore
from tuneloop.registry.store import RegistryStore


def collect(store: RegistryStore, artifacts: ArtifactStore, grace: float) -> dict[str, int]:
    removed = {"upload temp files": 0, "unreferenced blobs": 0}
    for key, age in artifacts.entries("blobs/incoming"):
        if age > grace:
            artifacts.delete(key)
            removed["upload temp files"] += 1
    referenced = store.referenced_blobs()  # read before listing: a blob committed since is younger than grace
    for key, age in artifacts.entries("blobs/sha256"):
        if age > grace and key.rsplit("/", 1)[-1] not in referenced:
            artifacts.delete(key)
            removed["unreferenced blobs"] += 1
    return removed
