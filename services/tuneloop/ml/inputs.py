"""Fetching a job's inputs from the other services through the client, as any cluster
deployment would: a dataset version's split files from dataprep, a model's files from the
registry.

Both land in caches under a work folder (the service's, or a Ray worker node's own: every
training worker fetches its inputs itself, so nothing depends on the trainer's disk), shared by
jobs and keyed by what never changes: a dataset version's split (a version is immutable, named
by its content hash) and a model version (its files verified by sha256). A file lock makes
processes sharing a cache (two workers on one node) fetch an item once. A
split arrives as the Parquet file dataprep stored, verified against its sha256; a model
download cut off half-way resumes. Errors of those services come back as the same domain
errors (an unknown dataset is NOT_FOUND here too), with what was being fetched in front.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
from filelock import FileLock

from tuneloop.client import Client
from tuneloop.core.names import split_ref
from tuneloop.errors import about


class Inputs:
    def __init__(self, client: Callable[[], Client], work_dir: Path) -> None:
        self.client = client
        self.work_dir = work_dir
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def _lock(self, target: Path) -> Iterator[None]:
        """One lock per cached item, across threads and processes: it is fetched once."""
        with self._guard:
            lock = self._locks.setdefault(str(target), threading.Lock())
        target.parent.mkdir(parents=True, exist_ok=True)
        with lock, FileLock(f"{target}.lock", timeout=3600):
            yield

    def dataset(self, ref: str):
        name, version = split_ref(ref)
        with about(f"dataset {ref}"):
            return self.client().dataprep.get_version(name, version)

    def model(self, ref: str):
        with about(f"base model {ref}"):
            return self.client().registry.get_version(ref)

    def model_dir(self, version) -> Path:
        """The model's files in the local cache, downloaded (or completed) first if needed."""
        key = f"{version.model}@{version.version}"
        target = self.work_dir / "models" / key
        with self._lock(target), about(f"downloading {key}"):
            self.client().registry.download(key, target)
        return target

    def split_dir(self, dataset) -> Path:
        """The cache folder of a resolved dataset version's split files."""
        return self.work_dir / "datasets" / dataset.dataset / dataset.version

    def split_file(self, dataset, split: str) -> Path:
        """One split of a resolved dataset version as its stored Parquet file (fetched once)."""
        path = self.split_dir(dataset) / f"{split}.parquet"
        with self._lock(path):
            if not path.exists():  # only a verified download is ever renamed into place
                with about(f"reading {split} of {dataset.dataset}@{dataset.version}"):
                    self.client().dataprep.download_split(dataset.dataset, dataset.version, split, path)
        return path

    def rows(self, dataset, split: str) -> tuple[list[str], list[str]]:
        """Texts and labels (prompts and completions, for text-generation) of one split of a
        resolved dataset version, in stored order."""
        frame = pl.read_parquet(self.split_file(dataset, split))
        first, second = ("prompt", "completion") if "prompt" in frame.columns else ("text", "label")
        return frame[first].to_list(), frame[second].to_list()

    def splits(self, dataset) -> tuple[Path, list[str]]:
        """The train and validation split files, in one folder; and the sorted labels."""
        for split in ("train", "validation"):
            self.split_file(dataset, split)
        return self.split_dir(dataset), sorted(dataset.labels)
