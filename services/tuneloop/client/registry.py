"""Client of the registry service: streamed, resumable transfers of model directories.

Uploads read each file once, hashing it as it streams; its last chunk carries the
sha256 the server verifies against. Downloads write `<file>.partial` from a writer
thread (so disk and hashing overlap the network) and rename it only once its sha256
checks out; a download that was cut off resumes from the bytes already on disk.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, BinaryIO, NamedTuple

from tuneloop.client.base import CHUNK, ServiceClient
from tuneloop.errors import InvalidArgument
from tuneloop.v1 import registry_pb2, registry_pb2_grpc

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# weights formats that unpickle (run code) when loaded; the registry refuses them unless allowed
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
KINDS = {"base": registry_pb2.MODEL_KIND_BASE, "fine-tuned": registry_pb2.MODEL_KIND_FINE_TUNED}


def _open_binary(path: Path) -> IO[bytes]:
    return path.open("rb")


class Source(NamedTuple):
    """One file to upload: its path in the version, its size, and how to open it for reading."""

    path: str
    size: int
    open: Callable[[], IO[bytes]]


def parse_ref(text: str) -> registry_pb2.VersionRef:
    """`NAME`, `NAME@VERSION` or `NAME:ALIAS` as a VersionRef."""
    if "@" in text:
        name, _, version = text.partition("@")
        if not version.isdigit():
            raise InvalidArgument(f"version in {text!r} must be a number")
        return registry_pb2.VersionRef(model=name, version=int(version))
    name, _, alias = text.partition(":")
    return registry_pb2.VersionRef(model=name, alias=alias)


def is_pickle(path: str) -> bool:
    return path.lower().endswith(PICKLE_SUFFIXES)


def sha256_file(path: Path, prefix_hash=None) -> str:
    digest = prefix_hash or hashlib.sha256()
    with path.open("rb") as fh:
        while data := fh.read(4 << 20):
            digest.update(data)
    return digest.hexdigest()


def resolve_model_dir(path_or_package: str) -> Path:
    """A local model folder, or the folder an installed package carries (via get_model_path())."""
    path = Path(path_or_package)
    if path.is_dir():
        return path
    module_name = path_or_package.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise FileNotFoundError(f"{path_or_package!r} is neither a folder nor an installed package") from None
    getter = getattr(module, "get_model_path", None)
    if getter is None:
        raise FileNotFoundError(f"package {module_name!r} has no get_model_path()")
    return Path(getter())


def model_files(directory: Path, *, allow_pickle: bool = False) -> list[Path]:
    """The files of a model folder (hidden files skipped). Pickle weights are left out when
    safetensors exist, refused when they are all there is, unless allowed."""
    files = sorted(p for p in directory.rglob("*") if p.is_file()
                   and not any(part.startswith(".") or part == "__pycache__"
                               for part in p.relative_to(directory).parts))
    if not files:
        raise FileNotFoundError(f"{directory} holds no files")
    pickled = [p for p in files if is_pickle(p.name)]
    if pickled and not allow_pickle:
        if not any(p.suffix == ".safetensors" for p in files):
            raise ValueError(f"{directory} holds pickle-based weights only ({pickled[0].name}); "
                             "convert them to safetensors or allow pickle explicitly")
        files = [p for p in files if p not in pickled]
    return files


class RegistryClient(ServiceClient):
    stub_class = registry_pb2_grpc.RegistryServiceStub

    # -- models ------------------------------------------------------------------------
    def create_model(self, name: str, description: str = "") -> registry_pb2.Model:
        return self._call("CreateModel", registry_pb2.CreateModelRequest(name=name, description=description)).model

    def get_model(self, name: str) -> registry_pb2.Model:
        return self._call("GetModel", registry_pb2.GetModelRequest(name=name)).model

    def list_models(self) -> list[registry_pb2.Model]:
        return self._pages("ListModels", registry_pb2.ListModelsRequest, "models")

    # -- upload ------------------------------------------------------------------------
    def upload_dir(self, directory: str | Path, *, model: str, **options) -> registry_pb2.ModelVersion:
        """Upload every file of `directory` as a new version of `model` (options: see `upload_files`)."""
        directory = Path(directory)
        files = model_files(directory, allow_pickle=options.get("allow_pickle", False))
        return self.upload_files([Source(p.relative_to(directory).as_posix(), p.stat().st_size,
                                         functools.partial(_open_binary, p)) for p in files], model=model, **options)

    def upload_files(self, sources: Sequence[Source], *, model: str, kind: str = "fine-tuned",
                     create_model: bool = True, tags: dict[str, str] | None = None,
                     metrics: dict[str, float] | None = None, lineage: registry_pb2.Lineage | None = None,
                     description: str = "", allow_pickle: bool = False,
                     chunk: int = CHUNK) -> registry_pb2.ModelVersion:
        """Upload files from anywhere they can be opened (a folder, object storage) as a new version
        of `model`. Each is read once, hashed as it streams."""
        manifest = [registry_pb2.ArtifactFile(path=src.path, size_bytes=src.size,
                                              sha256=EMPTY_SHA256 if src.size == 0 else "") for src in sources]
        header = registry_pb2.UploadHeader(
            model=model, create_model=create_model, kind=KINDS[kind], files=manifest, tags=tags or {},
            metrics=metrics or {}, lineage=lineage, description=description, allow_pickle=allow_pickle)
        return self._call("UploadVersion", self._upload_stream(header, sources, chunk)).version

    @staticmethod
    def _upload_stream(header, sources: Sequence[Source], chunk: int) -> Iterator[registry_pb2.UploadVersionRequest]:
        yield registry_pb2.UploadVersionRequest(header=header)
        for src in sources:
            digest, sent = hashlib.sha256(), 0
            with src.open() as fh:
                while data := fh.read(chunk):
                    digest.update(data)
                    sent += len(data)
                    trailer = digest.hexdigest() if sent >= src.size else ""
                    yield registry_pb2.UploadVersionRequest(
                        chunk=registry_pb2.UploadChunk(path=src.path, data=data, sha256=trailer))

    def import_base(self, name: str, path_or_package: str, *, allow_pickle: bool = False,
                    description: str = "", folder: str | Path | None = None,
                    source: dict | None = None) -> registry_pb2.ModelVersion:
        """Register a local Hugging Face model folder (or a package carrying one) as a new base model.
        `folder` overrides where the files are read from (a folder converted from `path_or_package`,
        e.g. from GGUF); `source` describes the original file in the lineage (its sha256)."""
        directory = Path(folder) if folder is not None else resolve_model_dir(path_or_package)
        if not any((directory / name).is_file() for name in ("config.json", "efficientnet.json")):
            raise ValueError(f"{directory} is not a model folder (no config.json, nor an EfficientNet-Lite "
                             "efficientnet.json)")
        self.create_model(name, description or f"base model from {path_or_package}")
        lineage = registry_pb2.Lineage(config_json=json.dumps({"source": source}, sort_keys=True)) if source else None
        return self.upload_dir(directory, model=name, kind="base", create_model=False, allow_pickle=allow_pickle,
                               tags={"source": Path(path_or_package).name}, lineage=lineage)

    # -- versions ----------------------------------------------------------------------
    def get_version(self, ref: str | registry_pb2.VersionRef) -> registry_pb2.ModelVersion:
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        return self._call("GetModelVersion", registry_pb2.GetModelVersionRequest(ref=ref)).version

    def search(self, *, limit: int = 0, page_size: int = 0, **filters) -> list[registry_pb2.ModelVersion]:
        """Versions matching SearchVersionsRequest fields (model, tags, alias, kind, dataset,
        metrics, order_by, ascending), every page, or the first `limit`."""
        out, token = [], ""
        while True:
            req = registry_pb2.SearchVersionsRequest(**filters)
            req.page.page_token, req.page.page_size = token, page_size or (min(limit, 1000) if limit else 0)
            resp = self._call("SearchVersions", req)
            out += resp.versions
            token = resp.next_page_token
            if not token or (limit and len(out) >= limit):
                return out[:limit] if limit else out

    def set_aliases(self, model: str, aliases: dict[str, int], *, actor: str = "", reason: str = "") -> registry_pb2.Model:
        req = registry_pb2.SetAliasesRequest(model=model, aliases=aliases, actor=actor, reason=reason)
        return self._call("SetAliases", req).model

    def delete_alias(self, model: str, alias: str, *, actor: str = "") -> None:
        self._call("DeleteAlias", registry_pb2.DeleteAliasRequest(model=model, alias=alias, actor=actor))

    def alias_history(self, model: str, alias: str = "") -> list[registry_pb2.AliasChange]:
        return list(self._call("GetAliasHistory", registry_pb2.GetAliasHistoryRequest(model=model, alias=alias)).changes)

    def set_tags(self, ref: str, set_: dict[str, str], remove: Sequence[str] = ()) -> registry_pb2.ModelVersion:
        req = registry_pb2.SetTagsRequest(ref=parse_ref(ref), set=set_, remove=list(remove))
        return self._call("SetTags", req).version

    def set_metrics(self, ref: str, metrics: dict[str, float]) -> registry_pb2.ModelVersion:
        return self._call("SetMetrics", registry_pb2.SetMetricsRequest(ref=parse_ref(ref), metrics=metrics)).version

    def watch_events(self, after_id: int = 0, *, model: str = "", follow: bool = False, timeout: float | None = None):
        """The event stream (`.cancel()` it to stop following)."""
        req = registry_pb2.WatchEventsRequest(after_id=after_id, model=model, follow=follow)
        return self._stream("WatchEvents", req, timeout=timeout)

    # -- download ----------------------------------------------------------------------
    def download(self, ref: str | registry_pb2.VersionRef, output: str | Path) -> registry_pb2.ModelVersion:
        """Write a version's files under `output`, resuming what an earlier call left unfinished."""
        output = Path(output)
        version = self.get_version(ref)  # pin aliases to one version before any byte moves
        files = list(version.files)
        start = next((i for i, f in enumerate(files) if not _complete(output / f.path, f)), None)
        if start is None:
            return version
        first = output / (files[start].path + ".partial")
        offset = first.stat().st_size if first.exists() and first.stat().st_size <= files[start].size_bytes else 0
        req = registry_pb2.DownloadVersionRequest(
            ref=registry_pb2.VersionRef(model=version.model, version=version.version),
            start_path=files[start].path, start_offset=offset)
        stream = self._stream("DownloadVersion", req, timeout=self.timeout)
        _write_in_background(_FileWriter(output, files[start:], offset),
                             ((m.chunk.path, m.chunk.offset, m.chunk.data) for m in stream
                              if m.WhichOneof("part") == "chunk"))
        return version


_ABORT = object()


def _write_in_background(writer: _FileWriter, chunks: Iterator[tuple[str, int, bytes]]) -> None:
    """Receive on this thread while another writes and hashes; errors of either side raise here.
    A cut-off stream leaves the `.partial` file in place for the next call to resume."""
    pipe: queue.Queue = queue.Queue(maxsize=8)
    failed: list[BaseException] = []

    def drain() -> None:
        try:
            while (item := pipe.get()) is not None:
                if item is _ABORT:
                    writer.abort()
                    return
                writer.write(*item)
            writer.finish()
        except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread below
            failed.append(exc)
            writer.abort()
            while pipe.get() not in (None, _ABORT):  # keep the receiver unblocked until it stops
                pass

    thread = threading.Thread(target=drain, name="tuneloop-download-writer", daemon=True)
    thread.start()
    end = None
    try:
        for item in chunks:
            if failed:
                break
            pipe.put(item)
    except BaseException:
        end = _ABORT
        raise
    finally:
        pipe.put(end)
        thread.join()
    if failed:
        raise failed[0]


def _complete(path: Path, entry) -> bool:
    return path.is_file() and path.stat().st_size == entry.size_bytes and sha256_file(path) == entry.sha256


class _FileWriter:
    """Writes streamed chunks to `.partial` files in manifest order, verifying each file."""

    def __init__(self, root: Path, files: list, offset: int) -> None:
        self.root, self.files, self.index = root, files, 0
        self.fh: BinaryIO = self._open(offset)

    def _open(self, offset: int) -> BinaryIO:
        entry = self.files[self.index]
        partial = self.root / (entry.path + ".partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        self.hash = hashlib.sha256()
        if offset:
            with partial.open("rb") as fh:
                while data := fh.read(4 << 20):
                    self.hash.update(data)
        fh = partial.open("r+b" if offset else "wb")
        fh.seek(offset)
        fh.truncate()
        return fh

    def _close_current(self) -> None:
        entry = self.files[self.index]
        self.fh.close()
        partial = self.root / (entry.path + ".partial")
        if self.hash.hexdigest() != entry.sha256:
            partial.unlink()
            raise OSError(f"downloaded {entry.path} does not match its sha256; run the download again")
        os.replace(partial, self.root / entry.path)

    def write(self, path: str, offset: int, data: bytes) -> None:
        while self.files[self.index].path != path:
            self._close_current()
            self.index += 1
            self.fh = self._open(0)
        if self.fh.tell() != offset:
            raise OSError(f"{path}: expected bytes at offset {self.fh.tell()}, got {offset}")
        self.fh.write(data)
        self.hash.update(data)

    def abort(self) -> None:
        """Stop without verifying: the `.partial` file stays for a resume."""
        if not self.fh.closed:
            self.fh.close()

    def finish(self) -> None:
        while True:
            self._close_current()
            self.index += 1
            if self.index == len(self.files):
                return
            self._open(0)
