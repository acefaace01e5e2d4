"""The artifact store: files under a root that is a local folder or any fsspec URL.

Keys are '/'-separated relative paths. Writes go to a temporary key first and are
moved into place when complete, so a reader never sees a half-written file; the SQL
row that points at a set of files is written last, which is what makes them visible.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import IO

import fsspec


class ArtifactStore:
    def __init__(self, url: str) -> None:
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")
        self.url = url
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
        final = self.path(key)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{final}.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open(tmp, "wb") as fh:
                yield fh
            self.fs.mv(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(tmp)
            raise

    def open(self, key: str) -> IO[bytes]:
        return self.fs.open(self.path(key), "rb")

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def delete_prefix(self, prefix: str) -> None:
        path = self.path(prefix)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
