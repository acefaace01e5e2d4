"""Content-addressed artifact files: each file is stored once, under its sha256.

`BlobSink` receives one file's bytes as they stream in, hashing them on the way; the
blob becomes visible only if the bytes end with the declared sha256 and size. A blob
already stored is kept as it is, so versions that share a tokenizer or retried uploads
cost no extra space.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from tuneloop.core.artifacts import ArtifactStore, PendingFile
from tuneloop.errors import DataLoss


def blob_key(sha256: str) -> str:
    return f"blobs/sha256/{sha256[:2]}/{sha256}"


class BlobSink:
    """Receive one declared file; `close(sha256)` verifies and publishes it, `abort()` drops it.

    The bytes go to a temporary file beside the blobs; only a verified file is moved to
    its content address (or dropped, when that blob is already stored)."""

    def __init__(self, store: ArtifactStore, *, path: str, size: int) -> None:
        self.path, self.size = path, size
        self.received = 0
        self._hash = hashlib.sha256()
        self._pending: PendingFile | None = store.pending("blobs/incoming/upload")

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.received += len(data)
        self._pending.fh.write(data)

    @property
    def complete(self) -> bool:
        return self.received >= self.size

    def close(self, sha256: str) -> str:
        """Verify against the declared sha256, publish, and return it."""
        actual = self._hash.hexdigest()
        if actual != sha256 or self.received != self.size:
            self.abort()
            raise DataLoss(f"checksum mismatch for {self.path!r}: declared sha256 {sha256} "
                           f"({self.size} bytes), received {actual} ({self.received} bytes)")
        self._pending.commit(blob_key(sha256))
        self._pending = None
        return sha256

    def abort(self) -> None:
        """Discard the partial file (idempotent)."""
        if self._pending is not None:
            self._pending.discard()
            self._pending = None


def read_blob(store: ArtifactStore, sha256: str, *, offset: int = 0, chunk: int = 1 << 20) -> Iterator[bytes]:
    with store.open(blob_key(sha256)) as fh:
        if offset:
            fh.seek(offset)
        while data := fh.read(chunk):
            yield data
