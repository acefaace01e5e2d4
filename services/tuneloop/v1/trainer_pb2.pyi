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

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class TrainSpec(_message.Message):
    __slots__ = ("dataset", "base_model", "model", "epochs", "learning_rate", "batch_size", "max_length", "weight_decay", "warmup_ratio", "scheduler", "grad_accum", "freeze_layers", "lora", "early_stopping_patience", "seed", "max_train_samples", "workers", "gpu", "bf16", "checkpoint_every_steps", "log_every", "optimizer", "lora_rank", "lora_alpha", "lora_dropout", "lora_targets", "task", "image_size", "augment", "head_lr_multiplier", "class_weighting", "class_weight_ratio")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    WARMUP_RATIO_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    GRAD_ACCUM_FIELD_NUMBER: _ClassVar[int]
    FREEZE_LAYERS_FIELD_NUMBER: _ClassVar[int]
    LORA_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOPPING_PATIENCE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_TRAIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    BF16_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_EVERY_STEPS_FIELD_NUMBER: _ClassVar[int]
    LOG_EVERY_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    LORA_RANK_FIELD_NUMBER: _ClassVar[int]
    LORA_ALPHA_FIELD_NUMBER: _ClassVar[int]
    LORA_DROPOUT_FIELD_NUMBER: _ClassVar[int]
    LORA_TARGETS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AUGMENT_FIELD_NUMBER: _ClassVar[int]
    HEAD_LR_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    CLASS_WEIGHTING_FIELD_NUMBER: _ClassVar[int]
    CLASS_WEIGHT_RATIO_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    base_model: str
    model: str
    epochs: int
    learning_rate: float
    batch_size: int
    max_length: int
    weight_decay: float
    warmup_ratio: float
    scheduler: str
    grad_accum: int
    freeze_layers: int
    lora: bool
    early_stopping_patience: int
    seed: int
    max_train_samples: int
    workers: int
    gpu: bool
    bf16: bool
    checkpoint_every_steps: int
    log_every: int
    optimizer: str
    lora_rank: int
    lora_alpha: float
    lora_dropout: float
    lora_targets: str
    task: str
    image_size: int
    augment: bool
    head_lr_multiplier: float
    class_weighting: bool
    class_weight_ratio: float
    def __init__(self, dataset: _Optional[str] = ..., base_model: _Optional[str] = ..., model: _Optional[str] = ..., epochs: _Optional[int] = ..., learning_rate: _Optional[float] = ..., batch_size: _Optional[int] = ..., max_length: _Optional[int] = ..., weight_decay: _Optional[float] = ..., warmup_ratio: _Optional[float] = ..., scheduler: _Optional[str] = ..., grad_accum: _Optional[int] = ..., freeze_layers: _Optional[int] = ..., lora: _Optional[bool] = ..., early_stopping_patience: _Optional[int] = ..., seed: _Optional[int] = ..., max_train_samples: _Optional[int] = ..., workers: _Optional[int] = ..., gpu: _Optional[bool] = ..., bf16: _Optional[bool] = ..., checkpoint_every_steps: _Optional[int] = ..., log_every: _Optional[int] = ..., optimizer: _Optional[str] = ..., lora_rank: _Optional[int] = ..., lora_alpha: _Optional[float] = ..., lora_dropout: _Optional[float] = ..., lora_targets: _Optional[str] = ..., task: _Optional[str] = ..., image_size: _Optional[int] = ..., augment: _Optional[bool] = ..., head_lr_multiplier: _Optional[float] = ..., class_weighting: _Optional[bool] = ..., class_weight_ratio: _Optional[float] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "state", "spec_json", "dataset", "base_model", "model", "metrics", "error", "tensorboard", "attempts", "cancel_requested", "created_at", "started_at", "finished_at", "warnings", "sweep", "trials")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TENSORBOARD_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: JobState
    spec_json: str
    dataset: str
    base_model: str
    model: str
    metrics: _containers.ScalarMap[str, float]
    error: str
    tensorboard: str
    attempts: int
    cancel_requested: bool
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    warnings: _containers.RepeatedScalarFieldContainer[str]
    sweep: SweepSpec
    trials: _containers.RepeatedCompositeFieldContainer[Trial]
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., spec_json: _Optional[str] = ..., dataset: _Optional[str] = ..., base_model: _Optional[str] = ..., model: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., error: _Optional[str] = ..., tensorboard: _Optional[str] = ..., attempts: _Optional[int] = ..., cancel_requested: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ..., sweep: _Optional[_Union[SweepSpec, _Mapping]] = ..., trials: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ...) -> None: ...

class SweepSpec(_message.Message):
    __slots__ = ("space_json", "trials", "max_concurrent", "searcher", "scheduler", "seed", "reduction_factor", "grace_period")
    SPACE_JSON_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    SEARCHER_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_FACTOR_FIELD_NUMBER: _ClassVar[int]
    GRACE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    space_json: str
    trials: int
    max_concurrent: int
    searcher: str
    scheduler: str
    seed: int
    reduction_factor: int
    grace_period: int
    def __init__(self, space_json: _Optional[str] = ..., trials: _Optional[int] = ..., max_concurrent: _Optional[int] = ..., searcher: _Optional[str] = ..., scheduler: _Optional[str] = ..., seed: _Optional[int] = ..., reduction_factor: _Optional[int] = ..., grace_period: _Optional[int] = ...) -> None: ...

class Trial(_message.Message):
    __slots__ = ("id", "state", "config_json", "best_score", "epochs", "seconds", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    BEST_SCORE_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: str
    config_json: str
    best_score: float
    epochs: int
    seconds: float
    error: str
    def __init__(self, id: _Optional[str] = ..., state: _Optional[str] = ..., config_json: _Optional[str] = ..., best_score: _Optional[float] = ..., epochs: _Optional[int] = ..., seconds: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("id", "job", "type", "data_json", "at")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    job: str
    type: str
    data_json: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., job: _Optional[str] = ..., type: _Optional[str] = ..., data_json: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("spec", "idempotency_key", "sweep")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    spec: TrainSpec
    idempotency_key: str
    sweep: SweepSpec
    def __init__(self, spec: _Optional[_Union[TrainSpec, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., sweep: _Optional[_Union[SweepSpec, _Mapping]] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("id", "after_id", "follow")
    ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    id: str
    after_id: int
    follow: bool
    def __init__(self, id: _Optional[str] = ..., after_id: _Optional[int] = ..., follow: _Optional[bool] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: JobEvent
    def __init__(self, event: _Optional[_Union[JobEvent, _Mapping]] = ...) -> None: ...
