import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tuneloop.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FileFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_FORMAT_UNSPECIFIED: _ClassVar[FileFormat]
    FILE_FORMAT_CSV: _ClassVar[FileFormat]
    FILE_FORMAT_JSONL: _ClassVar[FileFormat]
    FILE_FORMAT_PARQUET: _ClassVar[FileFormat]
    FILE_FORMAT_ARCHIVE: _ClassVar[FileFormat]

class ConflictPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFLICT_POLICY_UNSPECIFIED: _ClassVar[ConflictPolicy]
    CONFLICT_POLICY_MAJORITY: _ClassVar[ConflictPolicy]
    CONFLICT_POLICY_DROP_ALL: _ClassVar[ConflictPolicy]
FILE_FORMAT_UNSPECIFIED: FileFormat
FILE_FORMAT_CSV: FileFormat
FILE_FORMAT_JSONL: FileFormat
FILE_FORMAT_PARQUET: FileFormat
FILE_FORMAT_ARCHIVE: FileFormat
CONFLICT_POLICY_UNSPECIFIED: ConflictPolicy
CONFLICT_POLICY_MAJORITY: ConflictPolicy
CONFLICT_POLICY_DROP_ALL: ConflictPolicy

class PrepareOptions(_message.Message):
    __slots__ = ("text_column", "label_column", "format", "filename", "seed", "casefold_labels", "fill_label", "conflict_policy", "near_dedupe", "near_threshold", "train_fraction", "validation_fraction", "task", "prompt_column", "completion_column", "image_column", "near_distance", "source")
    TEXT_COLUMN_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLUMN_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CASEFOLD_LABELS_FIELD_NUMBER: _ClassVar[int]
    FILL_LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFLICT_POLICY_FIELD_NUMBER: _ClassVar[int]
    NEAR_DEDUPE_FIELD_NUMBER: _ClassVar[int]
    NEAR_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FRACTION_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FRACTION_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COLUMN_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_COLUMN_FIELD_NUMBER: _ClassVar[int]
    IMAGE_COLUMN_FIELD_NUMBER: _ClassVar[int]
    NEAR_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    text_column: str
    label_column: str
    format: FileFormat
    filename: str
    seed: int
    casefold_labels: bool
    fill_label: str
    conflict_policy: ConflictPolicy
    near_dedupe: bool
    near_threshold: float
    train_fraction: float
    validation_fraction: float
    task: str
    prompt_column: str
    completion_column: str
    image_column: str
    near_distance: int
    source: str
    def __init__(self, text_column: _Optional[str] = ..., label_column: _Optional[str] = ..., format: _Optional[_Union[FileFormat, str]] = ..., filename: _Optional[str] = ..., seed: _Optional[int] = ..., casefold_labels: _Optional[bool] = ..., fill_label: _Optional[str] = ..., conflict_policy: _Optional[_Union[ConflictPolicy, str]] = ..., near_dedupe: _Optional[bool] = ..., near_threshold: _Optional[float] = ..., train_fraction: _Optional[float] = ..., validation_fraction: _Optional[float] = ..., task: _Optional[str] = ..., prompt_column: _Optional[str] = ..., completion_column: _Optional[str] = ..., image_column: _Optional[str] = ..., near_distance: _Optional[int] = ..., source: _Optional[str] = ...) -> None: ...

class IngestHeader(_message.Message):
    __slots__ = ("dataset", "options")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    options: PrepareOptions
    def __init__(self, dataset: _Optional[str] = ..., options: _Optional[_Union[PrepareOptions, _Mapping]] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: IngestHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[IngestHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: DatasetVersion
    def __init__(self, version: _Optional[_Union[DatasetVersion, _Mapping]] = ...) -> None: ...

class AppendRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: IngestHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[IngestHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class AppendResponse(_message.Message):
    __slots__ = ("version", "created", "rows_in", "dropped")
    class DroppedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ROWS_IN_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    version: DatasetVersion
    created: bool
    rows_in: int
    dropped: _containers.ScalarMap[str, int]
    def __init__(self, version: _Optional[_Union[DatasetVersion, _Mapping]] = ..., created: _Optional[bool] = ..., rows_in: _Optional[int] = ..., dropped: _Optional[_Mapping[str, int]] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("name", "latest_version", "version_count", "created_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    latest_version: str
    version_count: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., latest_version: _Optional[str] = ..., version_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("dataset", "version", "parent", "sequence", "rows_in", "rows_out", "dropped", "splits", "labels", "content_hash", "created_at", "task", "images_url", "source")
    class DroppedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class SplitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ROWS_IN_FIELD_NUMBER: _ClassVar[int]
    ROWS_OUT_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    IMAGES_URL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    parent: str
    sequence: int
    rows_in: int
    rows_out: int
    dropped: _containers.ScalarMap[str, int]
    splits: _containers.ScalarMap[str, int]
    labels: _containers.ScalarMap[str, int]
    content_hash: str
    created_at: _timestamp_pb2.Timestamp
    task: str
    images_url: str
    source: str
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ..., parent: _Optional[str] = ..., sequence: _Optional[int] = ..., rows_in: _Optional[int] = ..., rows_out: _Optional[int] = ..., dropped: _Optional[_Mapping[str, int]] = ..., splits: _Optional[_Mapping[str, int]] = ..., labels: _Optional[_Mapping[str, int]] = ..., content_hash: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., task: _Optional[str] = ..., images_url: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets", "next_page_token")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    next_page_token: str
    def __init__(self, datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetVersionRequest(_message.Message):
    __slots__ = ("dataset", "version")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class GetVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: DatasetVersion
    def __init__(self, version: _Optional[_Union[DatasetVersion, _Mapping]] = ...) -> None: ...

class ListVersionsRequest(_message.Message):
    __slots__ = ("dataset", "page")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    page: _common_pb2.PageRequest
    def __init__(self, dataset: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[DatasetVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[DatasetVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReadSplitRequest(_message.Message):
    __slots__ = ("dataset", "version", "split", "batch_size")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    split: str
    batch_size: int
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ..., split: _Optional[str] = ..., batch_size: _Optional[int] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("text", "label", "reason", "source_row")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ROW_FIELD_NUMBER: _ClassVar[int]
    text: str
    label: str
    reason: str
    source_row: int
    def __init__(self, text: _Optional[str] = ..., label: _Optional[str] = ..., reason: _Optional[str] = ..., source_row: _Optional[int] = ...) -> None: ...

class ReadSplitResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    def __init__(self, rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ...) -> None: ...

class ReadSplitFileRequest(_message.Message):
    __slots__ = ("dataset", "version", "split")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    split: str
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ..., split: _Optional[str] = ...) -> None: ...

class SplitFileHeader(_message.Message):
    __slots__ = ("dataset", "version", "split", "sha256", "size_bytes")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    split: str
    sha256: str
    size_bytes: int
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ..., split: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class ReadSplitFileResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: SplitFileHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[SplitFileHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ("dataset", "version")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: str
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class LabelCounts(_message.Message):
    __slots__ = ("counts",)
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.ScalarMap[str, int]
    def __init__(self, counts: _Optional[_Mapping[str, int]] = ...) -> None: ...

class Drift(_message.Message):
    __slots__ = ("has_parent", "label_shift", "length_shift", "mean_length_change", "new_labels", "size_shift")
    HAS_PARENT_FIELD_NUMBER: _ClassVar[int]
    LABEL_SHIFT_FIELD_NUMBER: _ClassVar[int]
    LENGTH_SHIFT_FIELD_NUMBER: _ClassVar[int]
    MEAN_LENGTH_CHANGE_FIELD_NUMBER: _ClassVar[int]
    NEW_LABELS_FIELD_NUMBER: _ClassVar[int]
    SIZE_SHIFT_FIELD_NUMBER: _ClassVar[int]
    has_parent: bool
    label_shift: float
    length_shift: float
    mean_length_change: float
    new_labels: _containers.RepeatedScalarFieldContainer[str]
    size_shift: float
    def __init__(self, has_parent: _Optional[bool] = ..., label_shift: _Optional[float] = ..., length_shift: _Optional[float] = ..., mean_length_change: _Optional[float] = ..., new_labels: _Optional[_Iterable[str]] = ..., size_shift: _Optional[float] = ...) -> None: ...

class GetReportResponse(_message.Message):
    __slots__ = ("version", "split_labels", "lengths", "label_conflicts", "drift", "options_json", "new_rows", "tokens", "images")
    class SplitLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: LabelCounts
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[LabelCounts, _Mapping]] = ...) -> None: ...
    class LengthsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.LengthStats
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.LengthStats, _Mapping]] = ...) -> None: ...
    class TokensEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TokenLengths
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TokenLengths, _Mapping]] = ...) -> None: ...
    class ImagesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ImageStats
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ImageStats, _Mapping]] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPLIT_LABELS_FIELD_NUMBER: _ClassVar[int]
    LENGTHS_FIELD_NUMBER: _ClassVar[int]
    LABEL_CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    NEW_ROWS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    version: DatasetVersion
    split_labels: _containers.MessageMap[str, LabelCounts]
    lengths: _containers.MessageMap[str, _common_pb2.LengthStats]
    label_conflicts: int
    drift: Drift
    options_json: str
    new_rows: int
    tokens: _containers.MessageMap[str, TokenLengths]
    images: _containers.MessageMap[str, ImageStats]
    def __init__(self, version: _Optional[_Union[DatasetVersion, _Mapping]] = ..., split_labels: _Optional[_Mapping[str, LabelCounts]] = ..., lengths: _Optional[_Mapping[str, _common_pb2.LengthStats]] = ..., label_conflicts: _Optional[int] = ..., drift: _Optional[_Union[Drift, _Mapping]] = ..., options_json: _Optional[str] = ..., new_rows: _Optional[int] = ..., tokens: _Optional[_Mapping[str, TokenLengths]] = ..., images: _Optional[_Mapping[str, ImageStats]] = ...) -> None: ...

class ImageStats(_message.Message):
    __slots__ = ("width", "height", "aspect", "modes")
    class ModesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ASPECT_FIELD_NUMBER: _ClassVar[int]
    MODES_FIELD_NUMBER: _ClassVar[int]
    width: _common_pb2.LengthStats
    height: _common_pb2.LengthStats
    aspect: _common_pb2.LengthStats
    modes: _containers.ScalarMap[str, int]
    def __init__(self, width: _Optional[_Union[_common_pb2.LengthStats, _Mapping]] = ..., height: _Optional[_Union[_common_pb2.LengthStats, _Mapping]] = ..., aspect: _Optional[_Union[_common_pb2.LengthStats, _Mapping]] = ..., modes: _Optional[_Mapping[str, int]] = ...) -> None: ...

class TokenLengths(_message.Message):
    __slots__ = ("prompt", "completion")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    prompt: _common_pb2.LengthStats
    completion: _common_pb2.LengthStats
    def __init__(self, prompt: _Optional[_Union[_common_pb2.LengthStats, _Mapping]] = ..., completion: _Optional[_Union[_common_pb2.LengthStats, _Mapping]] = ...) -> None: ...
