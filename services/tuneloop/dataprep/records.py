"""Dataprep's objects, as the core and the store exchange them (no SQL, no protobuf).

A version is immutable: its `content_hash` names exactly the rows of every split, and
`location` is the artifact-store folder of its Parquet files (one per split, plus the
dropped rows). `report` is the version's report: counts, labels, lengths, drift, options.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class VersionRecord:
    dataset: str
    version: str
    sequence: int
    parent: str | None
    content_hash: str
    rows_in: int
    rows_out: int
    report: dict
    location: str
    created_at: datetime


@dataclass(frozen=True)
class DatasetRecord:
    name: str
    created_at: datetime
    latest_version: str
    version_count: int


@dataclass(frozen=True)
class StoredFile:
    """One file of a version in the artifact store: its key, sha256 and size."""

    key: str
    sha256: str
    size_bytes: int
