"""Client of the dataprep service: uploads stream from disk, splits stream back.

A folder given to ingest or append (an image dataset's `<label>/<file>` tree) is packed into an
uncompressed tar in the temp folder first, and sent as that archive (images are compressed
already)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tuneloop.client.base import CHUNK, ServiceClient
from tuneloop.errors import DataLoss
from tuneloop.v1 import dataprep_pb2, dataprep_pb2_grpc

_FORMATS = {"csv": dataprep_pb2.FILE_FORMAT_CSV, "jsonl": dataprep_pb2.FILE_FORMAT_JSONL,
            "parquet": dataprep_pb2.FILE_FORMAT_PARQUET, "archive": dataprep_pb2.FILE_FORMAT_ARCHIVE}
_POLICIES = {"majority": dataprep_pb2.CONFLICT_POLICY_MAJORITY, "drop_all": dataprep_pb2.CONFLICT_POLICY_DROP_ALL}


class DataprepClient(ServiceClient):
    stub_class = dataprep_pb2_grpc.DataprepServiceStub

    @staticmethod
    def _upload(message: type, path: Path, dataset: str, options: dataprep_pb2.PrepareOptions) -> Iterator:
        """The upload stream: a header, then the file in CHUNK-sized pieces read as they are sent."""
        yield message(header=dataprep_pb2.IngestHeader(dataset=dataset, options=options))
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield message(chunk=chunk)

    @staticmethod
    def options(path: str | Path, *, text_column: str = "", label_column: str = "", format: str = "",
                seed: int = 0, casefold_labels: bool = False, fill_label: str = "", conflict_policy: str = "",
                near_dedupe: bool = False, near_threshold: float = 0.0, train_fraction: float = 0.0,
                validation_fraction: float = 0.0, task: str = "", prompt_column: str = "",
                completion_column: str = "", image_column: str = "", near_distance: int = 0,
                source: str = "") -> dataprep_pb2.PrepareOptions:
        """Build PrepareOptions; empty/zero values mean the server's defaults."""
        return dataprep_pb2.PrepareOptions(
            text_column=text_column, label_column=label_column, task=task, prompt_column=prompt_column,
            completion_column=completion_column, image_column=image_column, near_distance=near_distance,
            format=_FORMATS.get(format.lower(), dataprep_pb2.FILE_FORMAT_UNSPECIFIED),
            filename=Path(path).name, seed=seed, casefold_labels=casefold_labels, fill_label=fill_label,
            conflict_policy=_POLICIES.get(conflict_policy, dataprep_pb2.CONFLICT_POLICY_UNSPECIFIED),
            near_dedupe=near_dedupe, source=source,
            near_threshold=near_threshold, train_fraction=train_fraction, validation_fraction=validation_fraction,
        )

    def ingest(self, path: str | Path, *, dataset: str, **options) -> dataprep_pb2.DatasetVersion:
        """Stream `path` (a file, or a folder of images) to the server in CHUNK-sized pieces and
        prepare it as a new dataset."""
        with _as_file(Path(path)) as upload:
            stream = self._upload(dataprep_pb2.IngestRequest, upload, dataset, self.options(upload, **options))
            return self._call("Ingest", stream).version

    def append(self, path: str | Path, *, dataset: str, **options) -> dataprep_pb2.AppendResponse:
        with _as_file(Path(path)) as upload:
            stream = self._upload(dataprep_pb2.AppendRequest, upload, dataset, self.options(upload, **options))
            return self._call("Append", stream)

    def get_dataset(self, name: str) -> dataprep_pb2.Dataset:
        return self._call("GetDataset", dataprep_pb2.GetDatasetRequest(name=name)).dataset

    def list_datasets(self) -> list[dataprep_pb2.Dataset]:
        return self._pages("ListDatasets", dataprep_pb2.ListDatasetsRequest, "datasets")

    def get_version(self, dataset: str, version: str = "") -> dataprep_pb2.DatasetVersion:
        req = dataprep_pb2.GetVersionRequest(dataset=dataset, version=version)
        return self._call("GetVersion", req).version

    def list_versions(self, dataset: str) -> list[dataprep_pb2.DatasetVersion]:
        return self._pages("ListVersions", dataprep_pb2.ListVersionsRequest, "versions", dataset=dataset)

    def read_split(self, dataset: str, version: str = "", split: str = "train",
                   batch_size: int = 0) -> Iterator[dataprep_pb2.Row]:
        req = dataprep_pb2.ReadSplitRequest(dataset=dataset, version=version, split=split, batch_size=batch_size)
        for batch in self._stream("ReadSplit", req, timeout=self.timeout):
            yield from batch.rows

    def report(self, dataset: str, version: str = "") -> dataprep_pb2.GetReportResponse:
        req = dataprep_pb2.GetReportRequest(dataset=dataset, version=version)
        return self._call("GetReport", req)

    def export(self, dataset: str, version: str, split: str, output: str | Path) -> int:
        """Write a split as JSONL (`{"text", "label"}` a line, `{"prompt", "completion"}` for a
        text-generation dataset, `{"image", "label"}` for an image dataset, the image being its
        sha256 address (its file, or archive member, for a dropped row); the `dropped` split adds why each
        row was dropped and its 0-based row in the uploaded file: `reason`, `row`); returns the
        row count. The file appears only when the whole split was read: a failed read leaves nothing."""
        n = 0
        task = self.get_version(dataset, version).task
        keys = {"text-generation": ("prompt", "completion"), "image-classification": ("image", "label")}.get(
            task, ("text", "label"))
        with _whole_file(Path(output)) as partial, partial.open("w", encoding="utf-8") as fh:
            for row in self.read_split(dataset, version, split):
                line: dict[str, str | int] = {keys[0]: row.text, keys[1]: row.label}
                if split == "dropped":
                    line |= {"reason": row.reason, "row": row.source_row}
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
                n += 1
        return n

    def download_split(self, dataset: str, version: str, split: str, output: str | Path
                       ) -> dataprep_pb2.SplitFileHeader:
        """Write one split's stored Parquet file to `output` as dataprep keeps it (no re-encoding).
        It appears only once its bytes hash to the sha256 recorded with the version: a short
        or corrupted transfer raises DataLoss and leaves nothing."""
        req = dataprep_pb2.ReadSplitFileRequest(dataset=dataset, version=version, split=split)
        header, digest, size = None, hashlib.sha256(), 0
        with _whole_file(Path(output)) as partial, partial.open("wb") as fh:
            for msg in self._stream("ReadSplitFile", req, timeout=self.timeout):
                if msg.WhichOneof("part") == "header":
                    header = msg.header
                    continue
                digest.update(msg.chunk)
                fh.write(msg.chunk)
                size += len(msg.chunk)
            if header is None:
                raise DataLoss(f"{split} of {dataset}@{version or 'latest'}: the stream carried no header")
            if size != header.size_bytes or digest.hexdigest() != header.sha256:
                raise DataLoss(f"{split} of {header.dataset}@{header.version}: got {size} bytes hashing to "
                               f"{digest.hexdigest()}, expected {header.size_bytes} hashing to {header.sha256}")
        return header


@contextlib.contextmanager
def _whole_file(output: Path) -> Iterator[Path]:
    """A partial file to write, renamed to `output` only when the block ends without error."""
    partial = output.with_name(f".{output.name}.partial")
    try:
        yield partial
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _as_file(path: Path) -> Iterator[Path]:
    """`path` itself, or (a folder) a tar of its contents named after it, removed afterwards."""
    if not path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tuneloop-upload-") as tmp:
        packed = Path(tmp) / f"{path.resolve().name or 'images'}.tar"
        with tarfile.open(packed, "w") as archive:
            for item in sorted(path.rglob("*")):
                if item.is_file() and not item.is_symlink():
                    archive.add(item, arcname=str(item.relative_to(path)), recursive=False)
        yield packed
