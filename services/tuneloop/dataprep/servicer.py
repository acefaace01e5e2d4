"""The thin gRPC layer of dataprep: validate, spool uploads to disk, call the core, convert.

Domain errors raised by the core travel up to the shared interceptor, which maps them
to status codes; this module only raises them for malformed requests.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tuneloop.core.paging import next_token, page_bounds
from tuneloop.core.server import Registration
from tuneloop.core.server import registration as register_servicer
from tuneloop.dataprep import formats
from tuneloop.dataprep.core import DataprepCore
from tuneloop.dataprep.options import ConflictPolicy, PrepareOptions, make_options
from tuneloop.dataprep.records import DatasetRecord, VersionRecord
from tuneloop.errors import InvalidArgument, ResourceExhausted
from tuneloop.v1 import common_pb2, dataprep_pb2, dataprep_pb2_grpc

_FORMATS = {dataprep_pb2.FILE_FORMAT_CSV: "csv", dataprep_pb2.FILE_FORMAT_JSONL: "jsonl",
            dataprep_pb2.FILE_FORMAT_PARQUET: "parquet", dataprep_pb2.FILE_FORMAT_ARCHIVE: "archive"}
_POLICIES = {dataprep_pb2.CONFLICT_POLICY_MAJORITY: ConflictPolicy.MAJORITY,
             dataprep_pb2.CONFLICT_POLICY_DROP_ALL: ConflictPolicy.DROP_ALL}


def options_from_proto(msg: dataprep_pb2.PrepareOptions) -> PrepareOptions:
    return make_options(
        text_column=msg.text_column or None,
        label_column=msg.label_column or None,
        format=_FORMATS.get(msg.format),
        filename=msg.filename or None,
        source=msg.source or None,
        seed=msg.seed,
        casefold_labels=msg.casefold_labels,
        fill_label=msg.fill_label or None,
        conflict_policy=_POLICIES.get(msg.conflict_policy),
        near_dedupe=msg.near_dedupe,
        near_threshold=msg.near_threshold or None,
        train_fraction=msg.train_fraction or None,
        validation_fraction=msg.validation_fraction or None,
        task=msg.task or ("image-classification" if _is_archive(msg) else None),
        prompt_column=msg.prompt_column or None,
        completion_column=msg.completion_column or None,
        image_column=msg.image_column or None,
        near_distance=msg.near_distance or None,
    )


def _is_archive(msg: dataprep_pb2.PrepareOptions) -> bool:
    """An archive can only hold images: its task goes without saying."""
    return msg.format == dataprep_pb2.FILE_FORMAT_ARCHIVE or (
        not msg.format and formats.suffix_format(msg.filename) == "archive")


def version_to_proto(record: VersionRecord) -> dataprep_pb2.DatasetVersion:
    msg = dataprep_pb2.DatasetVersion(
        dataset=record.dataset, version=record.version, parent=record.parent or "",
        sequence=record.sequence, rows_in=record.rows_in, rows_out=record.rows_out,
        dropped=record.report["dropped"], splits=record.report["splits"], labels=record.report["labels"],
        content_hash=record.content_hash, task=record.report["options"].get("task", "text-classification"),
        images_url=record.report.get("images_url", ""), source=version_source(record),
    )
    msg.created_at.FromDatetime(record.created_at)
    return msg


def version_source(record: VersionRecord) -> str:
    """Where the rows `record` added came from: its upload's source, else its file name."""
    options = record.report["options"]
    return options.get("source") or options.get("filename") or ""


def dataset_to_proto(record: DatasetRecord) -> dataprep_pb2.Dataset:
    msg = dataprep_pb2.Dataset(name=record.name, latest_version=record.latest_version,
                               version_count=record.version_count)
    msg.created_at.FromDatetime(record.created_at)
    return msg


def report_to_proto(record: VersionRecord) -> dataprep_pb2.GetReportResponse:
    rep = record.report
    return dataprep_pb2.GetReportResponse(
        version=version_to_proto(record),
        split_labels={s: dataprep_pb2.LabelCounts(counts=c) for s, c in rep["split_labels"].items()},
        lengths={s: common_pb2.LengthStats(**st) for s, st in rep["lengths"].items()},
        label_conflicts=rep["label_conflicts"],
        drift=dataprep_pb2.Drift(**rep["drift"]),
        options_json=json.dumps(rep["options"], sort_keys=True),
        new_rows=rep["new_rows"],
        tokens={s: dataprep_pb2.TokenLengths(prompt=common_pb2.LengthStats(**t["prompt"]),
                                             completion=common_pb2.LengthStats(**t["completion"]))
                for s, t in rep.get("tokens", {}).items()},
        images={s: _image_stats(st) for s, st in rep.get("images", {}).items()},
    )


def _image_stats(stats: dict) -> dataprep_pb2.ImageStats:
    return dataprep_pb2.ImageStats(width=common_pb2.LengthStats(**stats["width"]),
                                   height=common_pb2.LengthStats(**stats["height"]),
                                   aspect=common_pb2.LengthStats(**stats["aspect"]), modes=stats["modes"])


class DataprepServicer(dataprep_pb2_grpc.DataprepServiceServicer):
    def __init__(self, core: DataprepCore) -> None:
        self.core = core

    def _spool(self, requests: Iterator, spool: Path) -> tuple[str, PrepareOptions]:
        """Write the upload's chunks to `spool`, enforcing the size limit as bytes arrive."""
        first = next(requests, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgument("the first message of an upload must be its header")
        header = first.header
        options = options_from_proto(header.options)
        limit = self.core.settings.max_upload_bytes
        size = 0
        with spool.open("wb") as fh:
            for msg in requests:
                if msg.WhichOneof("part") != "chunk":
                    raise InvalidArgument("only the first message of an upload may be a header")
                size += len(msg.chunk)
                if size > limit:
                    raise ResourceExhausted(f"upload exceeds the limit of {limit} bytes")
                fh.write(msg.chunk)
        return header.dataset, options

    def Ingest(self, request_iterator, context):
        with tempfile.TemporaryDirectory(prefix="tuneloop-upload-") as tmp:
            dataset, options = self._spool(request_iterator, Path(tmp) / "upload")
            record = self.core.ingest(dataset, Path(tmp) / "upload", options)
        return dataprep_pb2.IngestResponse(version=version_to_proto(record))

    def Append(self, request_iterator, context):
        with tempfile.TemporaryDirectory(prefix="tuneloop-upload-") as tmp:
            dataset, options = self._spool(request_iterator, Path(tmp) / "upload")
            result = self.core.append(dataset, Path(tmp) / "upload", options)
        return dataprep_pb2.AppendResponse(
            version=version_to_proto(result.version), created=result.created,
            rows_in=result.rows_in, dropped=result.dropped,
        )

    def GetDataset(self, request, context):
        return dataprep_pb2.GetDatasetResponse(dataset=dataset_to_proto(self.core.get_dataset(request.name)))

    def ListDatasets(self, request, context):
        limit, offset = page_bounds(request.page.page_size, request.page.page_token)
        records = self.core.list_datasets(limit=limit, offset=offset)
        return dataprep_pb2.ListDatasetsResponse(
            datasets=[dataset_to_proto(r) for r in records], next_page_token=next_token(offset, limit, len(records))
        )

    def GetVersion(self, request, context):
        record = self.core.get_version(request.dataset, request.version)
        return dataprep_pb2.GetVersionResponse(version=version_to_proto(record))

    def ListVersions(self, request, context):
        limit, offset = page_bounds(request.page.page_size, request.page.page_token)
        records = self.core.list_versions(request.dataset, limit=limit, offset=offset)
        return dataprep_pb2.ListVersionsResponse(
            versions=[version_to_proto(r) for r in records], next_page_token=next_token(offset, limit, len(records))
        )

    def ReadSplit(self, request, context):
        if request.batch_size < 0:
            raise InvalidArgument("batch_size must not be negative")
        batches = self.core.read_split(request.dataset, request.version, request.split, request.batch_size)
        for batch in batches:
            n = len(batch["text"])
            rows = [
                dataprep_pb2.Row(
                    text=batch["text"][i] or "", label=batch["label"][i] or "",
                    reason=batch.get("reason", [""] * n)[i] or "", source_row=batch.get("row", [0] * n)[i] or 0,
                )
                for i in range(n)
            ]
            yield dataprep_pb2.ReadSplitResponse(rows=rows)

    def ReadSplitFile(self, request, context):
        record, stored, chunks = self.core.split_file(request.dataset, request.version, request.split)
        yield dataprep_pb2.ReadSplitFileResponse(header=dataprep_pb2.SplitFileHeader(
            dataset=record.dataset, version=record.version, split=request.split, sha256=stored.sha256,
            size_bytes=stored.size_bytes))
        for chunk in chunks:
            yield dataprep_pb2.ReadSplitFileResponse(chunk=chunk)

    def GetReport(self, request, context):
        return report_to_proto(self.core.get_version(request.dataset, request.version))


def registration(core: DataprepCore) -> Registration:
    return register_servicer(DataprepServicer(core), dataprep_pb2_grpc.add_DataprepServiceServicer_to_server,
                             dataprep_pb2.DESCRIPTOR.services_by_name["DataprepService"])
