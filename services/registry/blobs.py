"""Content-addressed artifact files: each file is stored once, under its sha256.

`BlobSink` receives one file's bytes as they stream in, hashing them on the way; the
blob becomes visible only if the bytes end with the declared sha256 and size. A blob
already stored is verified but not written again, so versions that share a tokenizer
or retried uploads cost no extra space.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import IO

from tuneloop.core.artifacts import ArtifactStore
from tuneloop.core.errors import DataLoss


def blob_key(sha256: str) -> str:
    return f"blobs/sha256/{sha256[:2]}/{sha256}"


class BlobSink:
    """Write one declared file; `close()` verifies and publishes it, `abort()` drops it."""

    def __init__(self, store: ArtifactStore, *, path: str, sha256: str, size: int) -> None:
        self.path, self.sha256, self.size = path, sha256, size
        self.received = 0
        self._hash = hashlib.sha256()
        self._writer: contextlib.AbstractContextManager[IO[bytes]] | None = None
        self._fh: IO[bytes] | None = None
        if not store.exists(blob_key(sha256)):
            self._writer = store.writer(blob_key(sha256))
            self._fh = self._writer.__enter__()

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.received += len(data)
        if self._fh is not None:
            self._fh.write(data)

    @property
    def complete(self) -> bool:
        return self.received >= self.size

    def close(self) -> None:
        actual = self._hash.hexdigest()
        if actual != self.sha256 or self.received != self.size:
            error = DataLoss(f"checksum mismatch for {self.path!r}: declared sha256 {self.sha256} "
                             f"({self.size} bytes), received {actual} ({self.received} bytes)")
            self.abort(error)
            raise error
        if self._writer is not None:
            self._writer.__exit__(None, None, None)  # moves the finished file into place
            self._writer = self._fh = None

    def abort(self, error: BaseException) -> None:
        """Discard the partial file (the writer removes its temporary copy)."""
        if self._writer is not None:
            self._writer.__exit__(type(error), error, error.__traceback__)
            self._writer = self._fh = None


def read_blob(store: ArtifactStore, sha256: str, *, offset: int = 0, chunk: int = 1 << 20) -> Iterator[bytes]:
    with store.open(blob_key(sha256)) as fh:
        if offset:
            fh.seek(offset)
        while data := fh.read(chunk):
            yield data
