"""The registry's objects, as the core and the store exchange them (no SQL, no protobuf)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class Kind(str, Enum):
    BASE = "base"
    FINE_TUNED = "fine-tuned"


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class Lineage:
    base_model: str = ""  # NAME@VERSION
    dataset: str = ""  # NAME@VERSION
    config_json: str = ""
    job: str = ""
    parent_version: int = 0


@dataclass(frozen=True)
class ModelRecord:
    name: str
    description: str
    latest_version: int
    aliases: dict[str, int]
    created_at: datetime


@dataclass(frozen=True)
class VersionRecord:
    model: str
    version: int
    kind: Kind
    sha256: str
    size_bytes: int
    files: tuple[FileEntry, ...]
    tags: dict[str, str]
    metrics: dict[str, float]
    aliases: tuple[str, ...]
    lineage: Lineage
    description: str
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class NewVersion:
    """What an upload asks the store to record."""

    model: str
    kind: Kind
    sha256: str
    files: tuple[FileEntry, ...]
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    lineage: Lineage = Lineage()
    description: str = ""

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


@dataclass(frozen=True)
class Ref:
    """A version by number, by alias, or (neither) the latest."""

    model: str
    version: int = 0
    alias: str = ""


@dataclass(frozen=True)
class AliasChange:
    model: str
    alias: str
    from_version: int
    to_version: int
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    model: str
    version: int
    alias: str
    from_version: int
    actor: str
    at: datetime


@dataclass(frozen=True)
class MetricFilter:
    name: str
    op: str
    value: float


@dataclass(frozen=True)
class Query:
    """Filters of a version search; empty fields match everything."""

    model: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    alias: str = ""
    kind: Kind | None = None
    dataset: str = ""
    metrics: tuple[MetricFilter, ...] = ()
    order_by: str = "created_at"
    ascending: bool = False
