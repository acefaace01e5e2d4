"""Where dataset versions live: one SQL row per version (metadata, report) and, in the
artifact store, one Parquet file per split plus the dropped rows.

The files are written first, the SQL row last: a version is visible only once its
row commits, and a failed commit removes the files it had just written.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import replace

import polars as pl
import pyarrow.parquet as pq
import sqlalchemy as sa

from tuneloop.core.artifacts import ArtifactStore
from tuneloop.core.schema import dataset_versions, datasets
from tuneloop.dataprep.records import DatasetRecord, StoredFile, VersionRecord
from tuneloop.dataprep.split import SPLITS
from tuneloop.errors import Aborted, AlreadyExists, InvalidArgument, NotFound

FILES = (*SPLITS, "dropped")


def _record(row: sa.Row) -> VersionRecord:
    return VersionRecord(row.dataset, row.version, row.sequence, row.parent, row.content_hash,
                         row.rows_in, row.rows_out, row.report, row.location, row.created_at)


_HEX = re.compile(r"[0-9a-f]*")


class DatasetStore:
    def __init__(self, engine: sa.Engine, artifacts: ArtifactStore) -> None:
        self.engine = engine
        self.artifacts = artifacts

    # -- reads -------------------------------------------------------------------------
    def dataset_exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(datasets.c.name).where(datasets.c.name == name)).first() is not None

    def _summary_query(self) -> sa.Select:
        v = dataset_versions
        latest = (
            sa.select(v.c.dataset, sa.func.max(v.c.sequence).label("seq"), sa.func.count().label("n"))
            .group_by(v.c.dataset).subquery()
        )
        return (
            sa.select(datasets.c.name, datasets.c.created_at, v.c.version, latest.c.n)
            .join(latest, latest.c.dataset == datasets.c.name)
            .join(v, sa.and_(v.c.dataset == datasets.c.name, v.c.sequence == latest.c.seq))
        )

    def get_dataset(self, name: str) -> DatasetRecord:
        with self.engine.connect() as conn:
            row = conn.execute(self._summary_query().where(datasets.c.name == name)).first()
        if row is None:
            raise NotFound(f"dataset {name!r} not found")
        return DatasetRecord(row.name, row.created_at, row.version, row.n)

    def list_datasets(self, *, limit: int, offset: int) -> list[DatasetRecord]:
        query = self._summary_query().order_by(datasets.c.name).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [DatasetRecord(r.name, r.created_at, r.version, r.n) for r in conn.execute(query)]

    def get_version(self, dataset: str, version: str = "") -> VersionRecord:
        if len(version) > 64 or not _HEX.fullmatch(version):
            raise InvalidArgument(f"version {version[:20]!r}{'...' if len(version) > 20 else ''}: "
                                  "a version (or its prefix) is up to 64 hex digits")
        """The version whose id starts with `version` (the latest when empty)."""
        v = dataset_versions
        query = sa.select(v).where(v.c.dataset == dataset)
        if version:
            if len(version) < 4:
                raise InvalidArgument(f"version {version!r} is too short: give at least 4 characters")
            query = query.where(v.c.version.startswith(version, autoescape=True))
        query = query.order_by(v.c.sequence.desc()).limit(2)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            if not self.dataset_exists(dataset):
                raise NotFound(f"dataset {dataset!r} not found")
            raise NotFound(f"dataset {dataset!r} has no version {version!r}")
        if version and len(rows) > 1:
            raise InvalidArgument(f"version prefix {version!r} of {dataset!r} is ambiguous")
        return _record(rows[0])

    def list_versions(self, dataset: str, *, limit: int, offset: int) -> list[VersionRecord]:
        if not self.dataset_exists(dataset):
            raise NotFound(f"dataset {dataset!r} not found")
        v = dataset_versions
        query = sa.select(v).where(v.c.dataset == dataset).order_by(v.c.sequence).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]

    def read_frame(self, record: VersionRecord, name: str) -> pl.DataFrame:
        with self.artifacts.open(f"{record.location}/{name}.parquet") as fh:
            return pl.read_parquet(fh)

    def file(self, record: VersionRecord, name: str) -> StoredFile:
        """A stored file's sha256 and size: recorded when the version was made, or (a version
        made before they were recorded) computed by reading the file once."""
        known = record.report.get("files", {}).get(name)
        if known:
            return StoredFile(f"{record.location}/{name}.parquet", known["sha256"], known["size_bytes"])
        digest, size = hashlib.sha256(), 0
        with self.artifacts.open(f"{record.location}/{name}.parquet") as fh:
            while data := fh.read(1 << 20):
                digest.update(data)
                size += len(data)
        return StoredFile(f"{record.location}/{name}.parquet", digest.hexdigest(), size)

    def iter_bytes(self, stored: StoredFile, chunk: int) -> Iterator[bytes]:
        with self.artifacts.open(stored.key) as fh:
            while data := fh.read(chunk):
                yield data

    def iter_batches(self, record: VersionRecord, name: str, batch_rows: int) -> Iterator[dict[str, list]]:
        """Stream a stored file in batches of columns, never loading it whole."""
        with self.artifacts.open(f"{record.location}/{name}.parquet") as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=batch_rows):
                yield batch.to_pydict()

    # -- writes ------------------------------------------------------------------------
    def referenced_locations(self) -> set[str]:
        """The folder of every version (what garbage collection must keep)."""
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(dataset_versions.c.location)).scalars())

    def save(self, record: VersionRecord, files: dict[str, pl.DataFrame], *, new_dataset: bool) -> VersionRecord:
        """Write the files, then the row(s); on any failure nothing stays visible. The returned
        record's report lists each file's sha256 and size (what `ReadSplitFile` sends)."""
        encoded = {}
        for name, frame in files.items():
            buf = io.BytesIO()
            frame.write_parquet(buf, compression="zstd")
            encoded[name] = buf.getvalue()
        stored = {name: {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
                  for name, data in encoded.items()}
        # a folder of this writer's own: two writers of the same content (two replicas, one Ingest)
        # must not share one, or the loser's clean-up deletes what the winner committed
        location = f"{record.location}-{uuid.uuid4().hex[:12]}"
        record = replace(record, report={**record.report, "files": stored}, location=location)
        try:
            for name, data in encoded.items():
                with self.artifacts.writer(f"{location}/{name}.parquet") as fh:
                    fh.write(data)
            self._insert(record, new_dataset=new_dataset)
        except BaseException:
            self.artifacts.delete_prefix(location)
            raise
        return record

    def _insert(self, record: VersionRecord, *, new_dataset: bool) -> None:
        values = {f: getattr(record, f) for f in VersionRecord.__dataclass_fields__}
        try:
            with self.engine.begin() as conn:
                if new_dataset:
                    conn.execute(sa.insert(datasets).values(name=record.dataset, created_at=record.created_at))
                conn.execute(sa.insert(dataset_versions).values(**values))
        except sa.exc.IntegrityError as exc:
            if new_dataset:
                raise AlreadyExists(f"dataset {record.dataset!r} already exists; use append") from exc
            raise Aborted(f"dataset {record.dataset!r} changed while appending; retry") from exc
