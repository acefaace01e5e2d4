"""Reading an uploaded zip or tar of `<label>/<image file>` without trusting it.

Nothing is extracted: members are read into memory, one at a time, and never written to disk,
so no entry can land outside the upload's temporary folder. Refused with INVALID_ARGUMENT
before any member is read: an entry whose name is absolute or climbs out (`../x`), a symbolic or
hard link, a device or other special file, more members than TUNELOOP_DATAPREP_MAX_ARCHIVE_MEMBERS.
A zip bomb: the decompressed bytes are counted while streaming (the sizes an archive declares
are not believed), and past TUNELOOP_DATAPREP_MAX_UPLOAD_BYTES it is RESOURCE_EXHAUSTED.

A member's label is the name of the folder holding it (so `photos/cat/1.jpg` is a cat; a file
at the top level has no label). Folders, and the clutter archivers add (`__MACOSX/`, dot files
such as `.DS_Store`), are skipped.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from tuneloop.dataprep.formats import Limits
from tuneloop.errors import InvalidArgument, ResourceExhausted

CHUNK = 1 << 20


def _checked_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise InvalidArgument(f"the archive's entry {name[:200]!r} points outside the archive (path traversal)")
    return path


def _skipped(path: PurePosixPath) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


class _Budget:
    """Decompressed bytes read so far, against the upload limit."""

    def __init__(self, limits: Limits) -> None:
        self.limits, self.total = limits, 0

    def read(self, fh: IO[bytes]) -> bytes:
        parts = []
        while chunk := fh.read(CHUNK):
            self.total += len(chunk)
            if self.total > self.limits.max_bytes:
                raise self.limits.exceeded("the archive, decompressed,", "MAX_UPLOAD_BYTES", self.limits.max_bytes)
            parts.append(chunk)
        return b"".join(parts)


def _too_many(count: int, limits: Limits) -> None:
    if count > limits.max_archive_members:
        raise InvalidArgument(f"the archive has {count} members, more than TUNELOOP_DATAPREP_MAX_ARCHIVE_MEMBERS="
                              f"{limits.max_archive_members}")


def _zip_members(path: Path, limits: Limits) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        _too_many(len(infos), limits)
        files = []
        for info in infos:
            name = _checked_name(info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind == stat.S_IFLNK:
                raise InvalidArgument(f"the archive's entry {info.filename[:200]!r} is a symbolic link")
            if not info.is_dir() and not _skipped(name):
                files.append((info, name))
        budget = _Budget(limits)
        for info, name in files:
            with archive.open(info) as fh:
                yield str(name), budget.read(fh)


def _tar_members(path: Path, limits: Limits) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path, mode="r:*") as archive:
        members, declared = [], 0
        for member in archive:  # headers; a tar's sizes are what its data takes, so a bomb shows here
            members.append(member)
            declared += member.size
            _too_many(len(members), limits)
            if declared > limits.max_bytes:
                raise limits.exceeded("the archive, decompressed,", "MAX_UPLOAD_BYTES", limits.max_bytes)
        budget = _Budget(limits)
        for member in members:
            name = _checked_name(member.name)
            if member.issym() or member.islnk():
                raise InvalidArgument(f"the archive's entry {member.name[:200]!r} is a link")
            if not (member.isfile() or member.isdir()):
                raise InvalidArgument(f"the archive's entry {member.name[:200]!r} is not a file or a folder")
        for member in members:
            name = PurePosixPath(member.name)
            if member.isfile() and not _skipped(name):
                fh = archive.extractfile(member)
                if fh is not None:
                    yield str(name), budget.read(fh)


def archive_members(path: Path, limits: Limits) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every file of a zip or tar (compressed or not), checked as above."""
    try:
        if zipfile.is_zipfile(path):
            yield from _zip_members(path, limits)
        elif tarfile.is_tarfile(path):
            yield from _tar_members(path, limits)
        else:
            raise InvalidArgument("the file is neither a zip nor a tar archive")
    except (InvalidArgument, ResourceExhausted):
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, NotImplementedError) as exc:
        raise InvalidArgument(f"cannot read the archive: {str(exc).splitlines()[0][:200] if str(exc) else exc!r}") \
            from exc


def label_of(name: str) -> str | None:
    """The folder holding a member (None at the top level)."""
    parts = PurePosixPath(name).parts
    return parts[-2] if len(parts) >= 2 else None
