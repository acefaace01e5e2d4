"""Checking an upload: its manifest before any byte is accepted, then the bytes as they stream.

The manifest must list safe relative paths (`check_path`), each once, none both a file and a
folder, with a sha256 and a size; the total must fit the configured limit; pickle-based
weights are refused unless allowed, by name and by content (a file's first bytes).
Chunks must arrive file by file in manifest order; every file is verified when its
last byte arrives, against the manifest's sha256 or, where the manifest left it empty,
the one its last chunk carries. Any failure discards the file being written and raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tuneloop.client.registry import is_pickle
from tuneloop.core.artifacts import ArtifactStore
from tuneloop.errors import InvalidArgument, ResourceExhausted
from tuneloop.registry.blobs import BlobSink
from tuneloop.registry.records import FileEntry

_SHA = re.compile(r"^[0-9a-f]{64}$")


_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


def check_path(path: str) -> None:
    """A path every client can write and show as it is: relative, '/'-separated, components of
    at most 255 bytes without control characters, bidirectional overrides (display spoofing) or
    leading/trailing spaces (`w.bin ` is not `w.bin`)."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise InvalidArgument(f"file path {path[:200]!r} must be relative, '/'-separated, without '..'")
    if len(path) > 1024:
        raise InvalidArgument(f"file path {path[:60]!r}... is longer than 1024 characters")
    for part in parts:
        if any(ord(c) < 32 or ord(c) == 127 for c in part):
            raise InvalidArgument(f"file path {path[:200]!r} holds a control character")
        if _BIDI & set(part):
            raise InvalidArgument(f"file path {path[:200]!r} holds a bidirectional override (it would display "
                                  "as another name)")
        if part != part.strip():
            raise InvalidArgument(f"file path {path[:200]!r} has a component that starts or ends with a space")
        if len(part.encode()) > 255:
            raise InvalidArgument(f"file path {path[:60]!r}...: a component is longer than 255 bytes")


def pickled_content(first_bytes: bytes) -> bool:
    """A pickle stream (protocol 2 to 5) or a zip archive (torch.save's format, around a pickle)."""
    return (len(first_bytes) >= 2 and first_bytes[0] == 0x80 and 2 <= first_bytes[1] <= 5) or \
        first_bytes.startswith(b"PK\x03\x04")


def check_manifest(files: tuple[FileEntry, ...], *, limit: int, allow_pickle: bool) -> None:
    if not files:
        raise InvalidArgument("an upload must list at least one file")
    seen: set[str] = set()
    for f in files:
        check_path(f.path)
        if f.path in seen:
            raise InvalidArgument(f"file {f.path!r} is listed twice")
        seen.add(f.path)
    folders = {"/".join(f.path.split("/")[:i]) for f in files for i in range(1, f.path.count("/") + 1)}
    if clash := sorted(seen & folders):
        raise InvalidArgument(f"{clash[0]!r} is both a file and a folder: no filesystem can hold that version")
    for f in files:
        if f.sha256 and not _SHA.match(f.sha256):
            raise InvalidArgument(f"file {f.path!r}: sha256 must be 64 lowercase hex digits")
        if not f.sha256 and f.size_bytes == 0:
            raise InvalidArgument(f"file {f.path!r}: an empty file needs its sha256 in the manifest")
        if f.size_bytes < 0:
            raise InvalidArgument(f"file {f.path!r}: size must not be negative")
    total = sum(f.size_bytes for f in files)
    if total > limit:
        raise ResourceExhausted(f"artifact of {total} bytes exceeds the limit of {limit} bytes")
    pickled = [f.path for f in files if is_pickle(f.path)]
    if pickled and not allow_pickle:
        raise InvalidArgument(
            f"pickle-based weights refused ({', '.join(pickled)}): upload safetensors, or allow pickle explicitly"
        )


def receive(store: ArtifactStore, files: tuple[FileEntry, ...], chunks: Iterable[tuple[str, bytes, str]], *,
            allow_pickle: bool = False) -> tuple[FileEntry, ...]:
    """Consume (path, bytes, trailing sha256) chunks into blobs, verifying each file;
    returns the manifest with every sha256 filled in."""
    pending = list(files)
    done: list[FileEntry] = []
    sink: BlobSink | None = None
    entry: FileEntry | None = None

    def finish(expected: str) -> None:
        if not expected:
            raise InvalidArgument(f"file {entry.path!r}: no sha256 in the manifest nor on its last chunk")
        done.append(FileEntry(entry.path, sink.close(expected), entry.size_bytes))

    def advance() -> None:
        nonlocal sink, entry
        sink = entry = None
        while pending:
            entry = pending.pop(0)
            sink = BlobSink(store, path=entry.path, size=entry.size_bytes)
            if entry.size_bytes:
                return
            finish(entry.sha256)  # an empty file is complete at once
            sink = entry = None

    try:
        advance()
        for path, data, trailer in chunks:
            if sink is None:
                raise InvalidArgument(f"received bytes for {path!r} after every listed file was complete")
            if path != entry.path:
                raise InvalidArgument(f"expected bytes of {entry.path!r}, got {path!r}: send files in manifest order")
            if sink.received + len(data) > sink.size:
                raise InvalidArgument(f"file {path!r} is longer than its declared {sink.size} bytes")
            if sink.received == 0 and not allow_pickle and pickled_content(data[:4]):
                raise InvalidArgument(f"file {path!r} holds pickle data (it runs code when loaded): upload "
                                      "safetensors, or allow pickle explicitly")
            sink.write(data)
            if sink.complete:
                if entry.sha256 and trailer and trailer != entry.sha256:
                    raise InvalidArgument(f"file {path!r}: the last chunk's sha256 differs from the manifest's")
                finish(entry.sha256 or trailer)
                advance()
        if sink is not None:
            raise InvalidArgument(f"upload ended early: {entry.path!r} has {sink.received} of {sink.size} bytes")
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    return tuple(done)
