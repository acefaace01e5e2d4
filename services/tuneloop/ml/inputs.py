"""Fetching a job's inputs from the other services over gRPC, as any cluster deployment would:
the dataset version's splits from dataprep, the base model's files from the registry.

Both land under the trainer's work folder: splits per job, models in a cache shared by
jobs (a download cut off half-way resumes). Errors of those services come back as the
same domain errors (an unknown dataset is NOT_FOUND here too).
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
        self._model_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

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
        with self._guard:
            lock = self._model_locks.setdefault(key, threading.Lock())
        target = self.work_dir / "models" / key
        with lock:
            with about(f"downloading {key}"):
                self.client().registry.download(f"{version.model}@{version.version}", target)
        return target

    def rows(self, dataset, split: str) -> tuple[list[str], list[str]]:
        """Texts and labels of one split of a resolved dataset version, in stored order."""
        with about(f"reading {split} of {dataset.dataset}@{dataset.version}"):
            rows = [(r.text, r.label) for r in self.client().dataprep.read_split(dataset.dataset, dataset.version,
                                                                                split)]
        return [t for t, _ in rows], [lab for _, lab in rows]

    def splits(self, dataset, job_dir: Path) -> list[str]:
        """Write the train and validation splits as Parquet in `job_dir`; return the sorted labels."""
        job_dir.mkdir(parents=True, exist_ok=True)
        for split in ("train", "validation"):
            path = job_dir / f"{split}.parquet"
            if path.exists():
                continue
            texts, labels = self.rows(dataset, split)
            frame = pl.DataFrame({"text": texts, "label": labels}, schema={"text": pl.String, "label": pl.String})
            frame.write_parquet(path.with_suffix(".tmp"))
            path.with_suffix(".tmp").replace(path)
        return sorted(dataset.labels)
