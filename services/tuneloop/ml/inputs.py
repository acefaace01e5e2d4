"""Fetching a job's inputs from the other services through the client, as any cluster
deployment would: a dataset version's split files from dataprep, a model's files from the
registry.

Both land in caches under a work folder (the service's, or a Ray worker node's own: every
training worker fetches its inputs itself, so nothing depends on the trainer's disk), shared by
jobs and keyed by what never changes: a dataset version's split (a version is immutable, named
by its content hash) and a model version (its files verified by sha256). A file lock makes
processes sharing a cache (two workers on one node) fetch an item once. An image dataset's
images are read from the storage URL its version names (`images_url`: the cluster's object store
or, on one machine, a folder), by address, on 8 threads; each is checked against its sha256
before it is renamed into the cache, where every version and job shares it. A
split arrives as the Parquet file dataprep stored, verified against its sha256; a model
download cut off half-way resumes. Errors of those services come back as the same domain
errors (an unknown dataset is NOT_FOUND here too), with what was being fetched in front.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
from filelock import FileLock

from tuneloop.client import Client
from tuneloop.core.names import split_ref
from tuneloop.core.storage import open_fs
from tuneloop.errors import DataLoss, FailedPrecondition, about


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
        """Texts and labels (prompts and completions, for text-generation; image addresses and
        labels for image-classification) of one split of a resolved dataset version, in stored order."""
        frame = pl.read_parquet(self.split_file(dataset, split))
        first, second = ("prompt", "completion") if "prompt" in frame.columns else \
            ("image", "label") if "image" in frame.columns else ("text", "label")
        return frame[first].to_list(), frame[second].to_list()

    def splits(self, dataset) -> tuple[Path, list[str]]:
        """The train and validation split files, in one folder; and the sorted labels."""
        for split in ("train", "validation"):
            self.split_file(dataset, split)
        return self.split_dir(dataset), sorted(dataset.labels)

    @property
    def images_dir(self) -> Path:
        return self.work_dir / "images"

    def images(self, dataset, split: str) -> list[Path]:
        """The cached files of one split's images (fetched first where missing), in stored order."""
        addresses = pl.read_parquet(self.split_file(dataset, split), columns=["image"])["image"].to_list()
        paths = [self.images_dir / a[:2] / a for a in addresses]
        missing = [(a, p) for a, p in zip(addresses, paths, strict=True) if not p.exists()]
        if missing:
            if not dataset.images_url:
                raise FailedPrecondition(f"{dataset.dataset}@{dataset.version} names no storage for its images")
            fs, root = open_fs(dataset.images_url)
            from concurrent.futures import ThreadPoolExecutor

            with about(f"reading the images of {split} of {dataset.dataset}@{dataset.version}"), \
                    ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda item: _fetch_image(fs, root, *item), missing))
        return paths


def _fetch_image(fs, root: str, address: str, target: Path) -> None:
    try:
        with fs.open(f"{root}/{address[:2]}/{address}", "rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise DataLoss(f"image {address} is missing from the dataset's storage") from exc
    if hashlib.sha256(data).hexdigest() != address:
        raise DataLoss(f"image {address} arrived corrupted (its sha256 differs)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(data)
    os.replace(tmp, target)  # whole or absent: two workers writing the same image both write it whole
