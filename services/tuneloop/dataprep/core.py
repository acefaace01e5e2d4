"""The dataprep use cases, free of gRPC: ingest, append, look up, read back.

A version's identity is the sha256 of its settings and its rows (text, label, split, in stored
order; a text-generation version's files call them prompt and completion, an image version's
`text` is its image's address); its id is the first 12 hex digits. An image dataset's images are
stored once, by address, under `images/` in the artifact store (shared by every version and
dataset), before the version that names them. Appending a file that adds no new row creates no
version: the parent is returned with what the file's rows became.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from tuneloop.core.names import check_name
from tuneloop.core.settings import DataprepSettings
from tuneloop.dataprep import metrics
from tuneloop.dataprep.clean import dedupe_key
from tuneloop.dataprep.formats import Limits, read_table
from tuneloop.dataprep.imageprep import IMAGE_COLUMNS, prepare_images
from tuneloop.dataprep.images import read_images
from tuneloop.dataprep.options import COLUMN_OPTIONS, PrepareOptions
from tuneloop.dataprep.pipeline import Prepared, prepare
from tuneloop.dataprep.records import DatasetRecord, StoredFile, VersionRecord
from tuneloop.dataprep.report import build_report
from tuneloop.dataprep.split import SPLITS
from tuneloop.dataprep.store import FILES, DatasetStore
from tuneloop.errors import AlreadyExists, InvalidArgument

ID_LENGTH = 12
# a text-generation version's stored column names -> the frame's (text-classification's are the frame's)
GENERATION_COLUMNS = {"prompt": "text", "completion": "label"}
# an image-classification version's stored column names -> the frame's (beside label and IMAGE_COLUMNS)
IMAGE_FILE_COLUMNS = {"image": "text", "pixels": "key"}
IMAGES = "images"  # the artifact-store folder of every image, by address
FILE_CHUNK = 1 << 20  # bytes per ReadSplitFile message


@dataclass(frozen=True)
class AppendResult:
    version: VersionRecord
    created: bool  # False when the file added no new row
    rows_in: int
    dropped: dict[str, int]


def content_hash(rows: pl.DataFrame, settings: dict) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for split in SPLITS:
        part = rows.filter(pl.col("split") == split)
        digest.update(f"\x1d{split}\x1d".encode())
        if part.height:
            lines = part.select(pl.concat_str("text", "label", separator="\x1f")).to_series()
            digest.update(lines.str.join("\x1e").item().encode())
    return digest.hexdigest()


class DataprepCore:
    def __init__(self, store: DatasetStore, settings: DataprepSettings) -> None:
        self.store = store
        self.settings = settings
        self.limits = Limits(settings.max_upload_bytes, settings.max_rows, settings.max_text_bytes,
                             settings.max_image_pixels, settings.max_archive_members)
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    # -- writes ------------------------------------------------------------------------
    def ingest(self, dataset: str, path: Path, options: PrepareOptions) -> VersionRecord:
        check_name(dataset, what="dataset name")
        with self._locks[dataset], metrics.INGEST_SECONDS.labels("ingest").time():
            if self.store.dataset_exists(dataset):
                raise AlreadyExists(f"dataset {dataset!r} already exists; use append to add rows")
            rows_in, prepared = self._read_and_prepare(path, options)
            return self._save(dataset, prepared.new_rows, prepared, parent=None, parent_rows=None,
                              rows_in=rows_in, options=options)

    def append(self, dataset: str, path: Path, options: PrepareOptions) -> AppendResult:
        check_name(dataset, what="dataset name")
        with self._locks[dataset], metrics.INGEST_SECONDS.labels("append").time():
            parent = self.store.get_version(dataset)
            # what this upload names overrides what the dataset was made with; the rest is inherited
            given = {*COLUMN_OPTIONS, "format", "filename", "source", "fill_label"} & options.model_fields_set
            # a source names one upload's rows: the parent's is never this one's
            earlier = {k: v for k, v in parent.report["options"].items() if k != "source"}
            inherited = PrepareOptions(**{**earlier, **options.model_dump(include=given)})
            existing = self.rows(parent)
            rows_in, prepared = self._read_and_prepare(path, inherited, existing=existing)
            if prepared.new_rows.height == 0:
                return AppendResult(parent, False, rows_in, prepared.dropped_counts())
            kept = _kept_columns(inherited)
            rows = pl.concat([existing.select(*kept), prepared.new_rows.select(*kept)])
            record = self._save(dataset, rows, prepared, parent=parent, parent_rows=existing,
                                rows_in=rows_in, options=inherited)
            return AppendResult(record, True, rows_in, prepared.dropped_counts())

    def _read_and_prepare(self, path: Path, options: PrepareOptions,
                          existing: pl.DataFrame | None = None) -> tuple[int, Prepared]:
        """(rows in the upload, what they became)."""
        if options.images:
            raw = read_images(path, options, self.limits)
            prepared = prepare_images(raw, options, max_pixels=self.limits.max_image_pixels, existing=existing)
        else:
            raw = read_table(path, options, self.limits)
            prepared = prepare(raw, options, existing=existing, near_num_perm=self.settings.near_num_perm)
        metrics.record_prepared(raw.height, prepared.dropped_counts())
        if existing is None and prepared.new_rows.height == 0:
            raise InvalidArgument(f"no rows left after preparation; dropped: {prepared.dropped_counts()}")
        return raw.height, prepared

    def _save(self, dataset: str, rows: pl.DataFrame, prepared: Prepared, *, parent: VersionRecord | None,
              parent_rows: pl.DataFrame | None, rows_in: int, options: PrepareOptions) -> VersionRecord:
        rows = rows.select(*_kept_columns(options))
        settings = options.split_settings()
        digest = content_hash(rows, settings)
        report = build_report(
            rows=rows, new_rows=prepared.new_rows, parent_rows=parent_rows, rows_in=rows_in,
            dropped=prepared.dropped_counts(), label_conflicts=prepared.label_conflicts,
            filled_labels=prepared.filled_labels, options=options.model_dump(mode="json"),
        )
        version = digest[:ID_LENGTH]
        record = VersionRecord(
            dataset=dataset, version=version, sequence=(parent.sequence + 1) if parent else 1,
            parent=parent.version if parent else None, content_hash=digest, rows_in=rows_in,
            rows_out=rows.height, report=report, location=f"datasets/{dataset}/{version}",
            created_at=datetime.now(UTC),
        )
        stored_names = GENERATION_COLUMNS if options.generation else IMAGE_FILE_COLUMNS if options.images else {}
        names = {frame: stored for stored, frame in stored_names.items()}
        columns = [c for c in _kept_columns(options) if c != "split"]
        files = {s: rows.filter(pl.col("split") == s).select(*columns).rename(names) for s in SPLITS}
        files["dropped"] = prepared.dropped.select("row", "text", "label", "reason").rename(
            {} if options.images else names)
        if options.images:
            record = replace(record, report={**record.report, "images_url": self.images_url})
            self._store_images(prepared.new_rows)
        record = self.store.save(record, files, new_dataset=parent is None)
        metrics.VERSIONS_CREATED.inc()
        return record

    # -- reads -------------------------------------------------------------------------
    def get_dataset(self, name: str) -> DatasetRecord:
        return self.store.get_dataset(name)

    def list_datasets(self, *, limit: int, offset: int) -> list[DatasetRecord]:
        return self.store.list_datasets(limit=limit, offset=offset)

    def get_version(self, dataset: str, version: str = "") -> VersionRecord:
        return self.store.get_version(dataset, version)

    def list_versions(self, dataset: str, *, limit: int, offset: int) -> list[VersionRecord]:
        return self.store.list_versions(dataset, limit=limit, offset=offset)

    def rows(self, record: VersionRecord) -> pl.DataFrame:
        """Every row of a version: text, label, split, key."""
        parts = [self.store.read_frame(record, s).with_columns(split=pl.lit(s)) for s in SPLITS]
        frame = pl.concat(parts).rename(GENERATION_COLUMNS, strict=False)  # a text-generation version's names
        if "image" in frame.columns:
            return frame.rename(IMAGE_FILE_COLUMNS)
        return frame.with_columns(key=dedupe_key(pl.col("text")))

    @property
    def images_url(self) -> str:
        url = self.store.artifacts.url.rstrip("/")
        return f"{url if '://' in url else Path(url).resolve().as_uri()}/{IMAGES}"

    def _store_images(self, rows: pl.DataFrame) -> None:
        """Each new image's bytes under its address, unless already there (content never changes)."""
        artifacts = self.store.artifacts
        for address, data in zip(rows["text"].to_list(), rows["data"].to_list(), strict=True):
            key = image_key(address)
            if not artifacts.exists(key):
                with artifacts.writer(key) as fh:
                    fh.write(data)

    def image(self, address: str) -> bytes:
        return self.store.artifacts.read_bytes(image_key(address))

    def read_split(self, dataset: str, version: str, split: str, batch_rows: int = 0) -> Iterator[dict[str, list]]:
        """Batches of one split (or `dropped`) of a version, as column dicts (`text` and `label`:
        a text-generation version's prompt and completion)."""
        record = self.get_version(dataset, version)
        batches = self.store.iter_batches(record, _file_name(split), batch_rows or self.settings.read_batch_rows)
        return (_as_text_label(batch) for batch in batches)

    def split_file(self, dataset: str, version: str, split: str) -> tuple[VersionRecord, StoredFile, Iterator[bytes]]:
        """One split (or `dropped`) as its stored Parquet bytes, with the sha256 they must hash to."""
        record = self.get_version(dataset, version)
        stored = self.store.file(record, _file_name(split))
        return record, stored, self.store.iter_bytes(stored, FILE_CHUNK)


def image_key(address: str) -> str:
    if len(address) != 64 or not all(c in "0123456789abcdef" for c in address):
        raise InvalidArgument(f"{address[:80]!r} is not an image address (a sha256 in hex)")
    return f"{IMAGES}/{address[:2]}/{address}"


def _kept_columns(options: PrepareOptions) -> tuple[str, ...]:
    """A version's columns, as the frame names them."""
    return ("text", "label", "split", "key", *IMAGE_COLUMNS) if options.images else ("text", "label", "split")


def _as_text_label(batch: dict[str, list]) -> dict[str, list]:
    names = {**GENERATION_COLUMNS, **IMAGE_FILE_COLUMNS}
    return {names.get(name, name): values for name, values in batch.items()}


def _file_name(split: str) -> str:
    if split not in FILES:
        raise InvalidArgument(f"unknown split {split!r}: use one of {', '.join(FILES)}")
    return split
