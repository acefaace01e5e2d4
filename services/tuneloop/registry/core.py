"""The registry use cases, free of gRPC: models, uploads, downloads, search, aliases, events.

An upload is checked in full (manifest, then every byte) before its SQL row is written,
and that row is what makes a version visible: a broken or interrupted upload leaves no
version, only verified blobs a retry reuses. `watch` follows the event table from a
cursor, woken at once by this process's own writes and re-reading at least every
`poll_seconds` for writes by other replicas.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tuneloop.core.artifacts import ArtifactStore
from tuneloop.core.names import check_length, check_name
from tuneloop.core.settings import RegistrySettings
from tuneloop.core.streams import follow_log
from tuneloop.errors import AlreadyExists, InvalidArgument, NotFound
from tuneloop.registry import metrics
from tuneloop.registry.blobs import read_blob
from tuneloop.registry.records import (
    AliasChange,
    Event,
    FileEntry,
    Kind,
    Lineage,
    ModelRecord,
    NewVersion,
    Query,
    Ref,
    VersionRecord,
)
from tuneloop.registry.store import RegistryStore
from tuneloop.registry.upload import check_manifest, receive


@dataclass(frozen=True)
class UploadSpec:
    model: str
    files: tuple[FileEntry, ...]
    kind: Kind = Kind.FINE_TUNED
    create_model: bool = False
    tags: dict[str, str] | None = None
    metrics: dict[str, float] | None = None
    lineage: Lineage = Lineage()
    description: str = ""
    allow_pickle: bool = False


def manifest_sha256(files: Iterable[FileEntry]) -> str:
    """The sha256 of a version as a whole: of every file's path, sha256 and size, sorted by path."""
    lines = "".join(f"{f.path}\t{f.sha256}\t{f.size_bytes}\n" for f in sorted(files, key=lambda f: f.path))
    return hashlib.sha256(lines.encode()).hexdigest()


def _check_ref(ref: Ref) -> Ref:
    check_name(ref.model, what="model name")
    if ref.version < 0:
        raise InvalidArgument("version must be positive")
    if ref.alias:
        check_name(ref.alias, what="alias")
    return ref


def check_tags(tags: dict[str, str]) -> None:
    for key, value in tags.items():
        check_name(key, what="tag key")
        check_length(value, 512, f"tag {key} value")


def check_metrics(values: dict[str, float]) -> None:
    """Metric names of 1 to 128 characters; values finite numbers (NaN and infinity compare as nothing)."""
    for name, value in values.items():
        if not 0 < len(name) <= 128:
            raise InvalidArgument(f"metric name {name[:40]!r}: 1 to 128 characters")
        if not math.isfinite(value):
            raise InvalidArgument(f"metric {name!r} is {value}: metrics must be finite numbers")


class RegistryCore:
    def __init__(self, store: RegistryStore, artifacts: ArtifactStore, settings: RegistrySettings) -> None:
        self.store = store
        self.artifacts = artifacts
        self.settings = settings
        self._changed = threading.Condition()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- models ------------------------------------------------------------------------
    def create_model(self, name: str, description: str = "", *, actor: str = "") -> ModelRecord:
        record = self.store.create_model(check_name(name, what="model name"), description, actor=actor)
        self._notify()
        return record

    def get_model(self, name: str) -> ModelRecord:
        return self.store.get_model(check_name(name, what="model name"))

    def list_models(self, *, limit: int, offset: int) -> list[ModelRecord]:
        return self.store.list_models(limit=limit, offset=offset)

    # -- versions ----------------------------------------------------------------------
    def upload(self, spec: UploadSpec, chunks: Iterable[tuple[str, bytes, str]], *, actor: str = "") -> VersionRecord:
        """Receive and verify every file, then record the version (which makes it visible)."""
        check_name(spec.model, what="model name")
        check_tags(spec.tags or {})
        lin = spec.lineage
        for value, limit, what in ((lin.base_model, 200, "lineage.base_model"), (lin.dataset, 200, "lineage.dataset"),
                                   (lin.job, 128, "lineage.job")):
            check_length(value, limit, what)
        check_manifest(spec.files, limit=self.settings.max_artifact_bytes, allow_pickle=spec.allow_pickle)
        check_metrics(spec.metrics or {})
        try:
            self.store.get_model(spec.model)
            missing = False
        except NotFound:
            if not spec.create_model:
                raise
            missing = True
        files = receive(self.artifacts, spec.files, metrics.count_bytes(chunks, metrics.BYTES_UPLOADED),
                        allow_pickle=spec.allow_pickle)
        if missing:  # only now: a failed upload leaves no empty model behind
            self._create_if_missing(spec.model, actor)
        new = NewVersion(model=spec.model, kind=spec.kind, sha256=manifest_sha256(files), files=files,
                         tags=dict(spec.tags or {}), metrics=dict(spec.metrics or {}), lineage=spec.lineage,
                         description=spec.description)
        record = self.store.create_version(new, actor=actor)
        metrics.VERSIONS_CREATED.labels(spec.kind.value).inc()
        self._notify()
        return record

    def _create_if_missing(self, name: str, actor: str) -> None:
        try:
            self.store.create_model(name, actor=actor)
        except AlreadyExists:
            pass  # a parallel upload created it first: exactly what we wanted

    def get_version(self, ref: Ref) -> VersionRecord:
        return self.store.get_version(_check_ref(ref))

    def search(self, query: Query, *, limit: int, offset: int) -> list[VersionRecord]:
        return self.store.search(query, limit=limit, offset=offset)

    def download(self, ref: Ref, *, start_path: str = "", start_offset: int = 0
                 ) -> tuple[VersionRecord, Iterator[tuple[str, int, bytes]]]:
        """The version and an iterator of (path, offset, bytes) from the given resume point."""
        record = self.get_version(ref)
        files = list(record.files)
        if start_path:
            index = next((i for i, f in enumerate(files) if f.path == start_path), None)
            if index is None:
                raise InvalidArgument(f"{record.ref} has no file {start_path!r} to resume from")
            files = files[index:]
        if start_offset < 0 or (files and start_offset > files[0].size_bytes) or (start_offset and not start_path):
            raise InvalidArgument(f"start_offset {start_offset} is outside {start_path or 'the first file'!r}")

        def chunks() -> Iterator[tuple[str, int, bytes]]:
            offset = start_offset
            for f in files:
                for data in read_blob(self.artifacts, f.sha256, offset=offset, chunk=self.settings.chunk_bytes):
                    yield f.path, offset, data
                    offset += len(data)
                    metrics.BYTES_DOWNLOADED.inc(len(data))
                offset = 0

        return record, chunks()

    def set_tags(self, ref: Ref, set_: dict[str, str], remove: list[str], *, actor: str = "") -> VersionRecord:
        check_tags(set_)
        for key in remove:
            check_name(key, what="tag key")
        record = self.store.set_tags(_check_ref(ref), set_, remove, actor=actor)
        self._notify()
        return record

    def set_metrics(self, ref: Ref, values: dict[str, float], *, actor: str = "") -> VersionRecord:
        if not values:
            raise InvalidArgument("no metrics given")
        check_metrics(values)
        record = self.store.set_metrics(_check_ref(ref), values, actor=actor)
        self._notify()
        return record

    # -- aliases -----------------------------------------------------------------------
    def set_aliases(self, model: str, targets: dict[str, int], *, actor: str = "", reason: str = "") -> ModelRecord:
        check_name(model, what="model name")
        if not targets:
            raise InvalidArgument("no aliases given")
        for alias, version in targets.items():
            check_name(alias, what="alias")
            if version <= 0:
                raise InvalidArgument(f"alias {alias!r}: version must be positive")
        moved = self.store.set_aliases(model, targets, actor=actor, reason=reason)
        metrics.ALIAS_MOVES.inc(moved)
        self._notify()
        return self.store.get_model(model)

    def delete_alias(self, model: str, alias: str, *, actor: str = "", reason: str = "") -> None:
        self.store.delete_alias(check_name(model, what="model name"), check_name(alias, what="alias"),
                                actor=actor, reason=reason)
        metrics.ALIAS_MOVES.inc()
        self._notify()

    def alias_history(self, model: str, alias: str = "") -> list[AliasChange]:
        return self.store.alias_history(check_name(model, what="model name"), alias)

    # -- events ------------------------------------------------------------------------
    def watch(self, after_id: int, *, model: str = "", follow: bool = False,
              active: Callable[[], bool] = lambda: True) -> Iterator[Event]:
        """Every event after `after_id` in order; with `follow`, then new ones as they commit,
        for as long as `active()` holds."""
        if after_id < 0:
            raise InvalidArgument("after_id must not be negative")
        return follow_log(lambda cursor: self.store.events_after(cursor, model=model), lambda e: e.id, after=after_id,
                          follow=follow, active=active, changed=self._changed, poll_seconds=self.settings.poll_seconds)
