"""Fetching a job's inputs from the other services through the client, as any cluster
deployment would: a dataset version's split files from dataprep, a model's files from the
registry.

Both land in caches under the service's work folder, shared by jobs and keyed by what
never changes: a dataset version's split (a version is immutable) and a model version. A
split arrives as the Parquet file dataprep stored, verified against its sha256; a model
download cut off half-way resumes. Errors of those services come back as the same domain
errors (an unknown dataset is NOT_FOUND here too), with what was being fetched in front.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import polars as pl

from tuneloop.client import Client
from tuneloop.core.names import split_ref
from tuneloop.errors import about


class Inputs:
    def __init__(self, client: Callable[[], Client], work_dir: Path) -> None:
        self.client = client
        self.work_dir = work_dir
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        """One lock per cached item: two jobs needing the same file fetch it once."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

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
        with self._lock(f"model:{key}"), about(f"downloading {key}"):
            self.client().registry.download(key, target)
        return target

    def split_dir(self, dataset) -> Path:
        """The cache folder of a resolved dataset version's split files."""
        return self.work_dir / "datasets" / dataset.dataset / dataset.version

    def split_file(self, dataset, split: str) -> Path:
        """One split of a resolved dataset version as its stored Parquet file (fetched once)."""
        path = self.split_dir(dataset) / f"{split}.parquet"
        with self._lock(f"split:{path}"):
            if not path.exists():  # only a verified download is ever renamed into place
                path.parent.mkdir(parents=True, exist_ok=True)
                with about(f"reading {split} of {dataset.dataset}@{dataset.version}"):
                    self.client().dataprep.download_split(dataset.dataset, dataset.version, split, path)
        return path

    def rows(self, dataset, split: str) -> tuple[list[str], list[str]]:
        """Texts and labels of one split of a resolved dataset version, in stored order."""
        frame = pl.read_parquet(self.split_file(dataset, split), columns=["text", "label"])
        return frame["text"].to_list(), frame["label"].to_list()

    def splits(self, dataset) -> tuple[Path, list[str]]:
        """The train and validation split files, in one folder; and the sorted labels."""
        for split in ("train", "validation"):
            self.split_file(dataset, split)
        return self.split_dir(dataset), sorted(dataset.labels)
