"""The artifact store: files under a root that is a local folder or any fsspec URL
(S3 with the endpoint, region and credentials of `core.storage`).

Keys are '/'-separated relative paths. Writes go to a temporary key first and are
moved into place when complete, so a reader never sees a half-written file; the SQL
row that points at a set of files is written last, which is what makes them visible.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import IO

from tuneloop.core.storage import StorageSettings, is_remote, open_fs


class ArtifactStore:
    def __init__(self, url: str, settings: StorageSettings | None = None) -> None:
        self.fs, self.root = open_fs(url, settings)
        self.url = url
        if not is_remote(url):  # object stores have no folders; the bucket must exist
            self.fs.makedirs(self.root, exist_ok=True)

    def path(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"artifact key {key!r} escapes the store")
        return f"{self.root}/{key}"

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[IO[bytes]]:
        """Open `key` for writing; it appears only if the block finishes without error."""
        pending = PendingFile(self, key)
        try:
            yield pending.fh
        except BaseException:
            pending.discard()
            raise
        pending.commit(key)

    def pending(self, near: str) -> PendingFile:
        """A temporary file beside key `near`, whose final key is chosen at commit."""
        return PendingFile(self, near)

    def open(self, key: str) -> IO[bytes]:
        return self.fs.open(self.path(key), "rb")

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(key))

    def entries(self, prefix: str) -> list[tuple[str, float]]:
        """(key, age in seconds) of every file under `prefix` (what garbage collection looks at)."""
        path = self.path(prefix)
        if not self.fs.exists(path):
            return []
        now = time.time()
        return [(full[len(self.root) + 1:], now - _modified(info))
                for full, info in self.fs.find(path, detail=True).items() if info.get("type") == "file"]

    def delete_prefix(self, prefix: str) -> None:
        path = self.path(prefix)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)


def _modified(info: dict) -> float:
    """A listed file's modification time as a timestamp (local: mtime; S3: LastModified)."""
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


class PendingFile:
    """A file being written under a temporary name; `commit(key)` moves it to `key`, `discard()`
    removes it."""

    def __init__(self, store: ArtifactStore, near: str) -> None:
        self.store = store
        self.tmp = f"{near}.tmp-{uuid.uuid4().hex}"
        path = store.path(self.tmp)
        store.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        self.fh: IO[bytes] = store.fs.open(path, "wb")

    def commit(self, key: str) -> None:
        """Move into place. An existing `key` (content-addressed: the same bytes) is replaced, which
        renews its modification time: garbage collection spares what an upload just reused."""
        self.fh.close()
        final = self.store.path(key)
        self.store.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        self.store.fs.mv(self.store.path(self.tmp), final)

    def discard(self) -> None:
        self.fh.close()
        self.store.delete(self.tmp)
