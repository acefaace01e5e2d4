import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ClassMetrics(_message.Message):
    __slots__ = ("precision", "recall", "f1", "support")
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    F1_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_FIELD_NUMBER: _ClassVar[int]
    precision: float
    recall: float
    f1: float
    support: int
    def __init__(self, precision: _Optional[float] = ..., recall: _Optional[float] = ..., f1: _Optional[float] = ..., support: _Optional[int] = ...) -> None: ...

class ConfusionRow(_message.Message):
    __slots__ = ("counts",)
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, counts: _Optional[_Iterable[int]] = ...) -> None: ...

class ConfusionMatrix(_message.Message):
    __slots__ = ("labels", "rows")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedScalarFieldContainer[str]
    rows: _containers.RepeatedCompositeFieldContainer[ConfusionRow]
    def __init__(self, labels: _Optional[_Iterable[str]] = ..., rows: _Optional[_Iterable[_Union[ConfusionRow, _Mapping]]] = ...) -> None: ...

class EvaluationReport(_message.Message):
    __slots__ = ("model", "dataset", "split", "n", "accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted", "log_loss", "ece", "per_class", "confusion_matrix", "examples_per_second", "cached", "created_at", "task", "generation", "score", "warnings", "calibration")
    class PerClassEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ClassMetrics
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ClassMetrics, _Mapping]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    PRECISION_MACRO_FIELD_NUMBER: _ClassVar[int]
    RECALL_MACRO_FIELD_NUMBER: _ClassVar[int]
    F1_MACRO_FIELD_NUMBER: _ClassVar[int]
    PRECISION_WEIGHTED_FIELD_NUMBER: _ClassVar[int]
    RECALL_WEIGHTED_FIELD_NUMBER: _ClassVar[int]
    F1_WEIGHTED_FIELD_NUMBER: _ClassVar[int]
    LOG_LOSS_FIELD_NUMBER: _ClassVar[int]
    ECE_FIELD_NUMBER: _ClassVar[int]
    PER_CLASS_FIELD_NUMBER: _ClassVar[int]
    CONFUSION_MATRIX_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    model: str
    dataset: str
    split: str
    n: int
    accuracy: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    precision_weighted: float
    recall_weighted: float
    f1_weighted: float
    log_loss: float
    ece: float
    per_class: _containers.MessageMap[str, ClassMetrics]
    confusion_matrix: ConfusionMatrix
    examples_per_second: float
    cached: bool
    created_at: _timestamp_pb2.Timestamp
    task: str
    generation: GenerationMetrics
    score: float
    warnings: _containers.RepeatedScalarFieldContainer[str]
    calibration: _containers.RepeatedCompositeFieldContainer[CalibrationBin]
    def __init__(self, model: _Optional[str] = ..., dataset: _Optional[str] = ..., split: _Optional[str] = ..., n: _Optional[int] = ..., accuracy: _Optional[float] = ..., precision_macro: _Optional[float] = ..., recall_macro: _Optional[float] = ..., f1_macro: _Optional[float] = ..., precision_weighted: _Optional[float] = ..., recall_weighted: _Optional[float] = ..., f1_weighted: _Optional[float] = ..., log_loss: _Optional[float] = ..., ece: _Optional[float] = ..., per_class: _Optional[_Mapping[str, ClassMetrics]] = ..., confusion_matrix: _Optional[_Union[ConfusionMatrix, _Mapping]] = ..., examples_per_second: _Optional[float] = ..., cached: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., task: _Optional[str] = ..., generation: _Optional[_Union[GenerationMetrics, _Mapping]] = ..., score: _Optional[float] = ..., warnings: _Optional[_Iterable[str]] = ..., calibration: _Optional[_Iterable[_Union[CalibrationBin, _Mapping]]] = ...) -> None: ...

class CalibrationBin(_message.Message):
    __slots__ = ("low", "high", "count", "confidence", "accuracy")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    low: float
    high: float
    count: int
    confidence: float
    accuracy: float
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ..., count: _Optional[int] = ..., confidence: _Optional[float] = ..., accuracy: _Optional[float] = ...) -> None: ...

class GenerationMetrics(_message.Message):
    __slots__ = ("exact_match", "rouge_l", "token_f1", "loss", "perplexity", "max_new_tokens", "samples")
    EXACT_MATCH_FIELD_NUMBER: _ClassVar[int]
    ROUGE_L_FIELD_NUMBER: _ClassVar[int]
    TOKEN_F1_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    PERPLEXITY_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    exact_match: float
    rouge_l: float
    token_f1: float
    loss: float
    perplexity: float
    max_new_tokens: int
    samples: _containers.RepeatedCompositeFieldContainer[GeneratedSample]
    def __init__(self, exact_match: _Optional[float] = ..., rouge_l: _Optional[float] = ..., token_f1: _Optional[float] = ..., loss: _Optional[float] = ..., perplexity: _Optional[float] = ..., max_new_tokens: _Optional[int] = ..., samples: _Optional[_Iterable[_Union[GeneratedSample, _Mapping]]] = ...) -> None: ...

class GeneratedSample(_message.Message):
    __slots__ = ("prompt", "reference", "generated", "rouge_l")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    ROUGE_L_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    reference: str
    generated: str
    rouge_l: float
    def __init__(self, prompt: _Optional[str] = ..., reference: _Optional[str] = ..., generated: _Optional[str] = ..., rouge_l: _Optional[float] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("model", "dataset", "split", "refresh", "max_new_tokens", "stored_only")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STORED_ONLY_FIELD_NUMBER: _ClassVar[int]
    model: str
    dataset: str
    split: str
    refresh: bool
    max_new_tokens: int
    stored_only: bool
    def __init__(self, model: _Optional[str] = ..., dataset: _Optional[str] = ..., split: _Optional[str] = ..., refresh: _Optional[bool] = ..., max_new_tokens: _Optional[int] = ..., stored_only: _Optional[bool] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: EvaluationReport
    def __init__(self, report: _Optional[_Union[EvaluationReport, _Mapping]] = ...) -> None: ...

class GatePolicy(_message.Message):
    __slots__ = ("min_improvement", "alpha", "max_class_drop", "resamples", "seed")
    MIN_IMPROVEMENT_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    MAX_CLASS_DROP_FIELD_NUMBER: _ClassVar[int]
    RESAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    min_improvement: float
    alpha: float
    max_class_drop: float
    resamples: int
    seed: int
    def __init__(self, min_improvement: _Optional[float] = ..., alpha: _Optional[float] = ..., max_class_drop: _Optional[float] = ..., resamples: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class CompareRequest(_message.Message):
    __slots__ = ("candidate", "baseline", "dataset", "split", "policy", "max_new_tokens")
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    baseline: str
    dataset: str
    split: str
    policy: GatePolicy
    max_new_tokens: int
    def __init__(self, candidate: _Optional[str] = ..., baseline: _Optional[str] = ..., dataset: _Optional[str] = ..., split: _Optional[str] = ..., policy: _Optional[_Union[GatePolicy, _Mapping]] = ..., max_new_tokens: _Optional[int] = ...) -> None: ...

class CompareResponse(_message.Message):
    __slots__ = ("candidate", "baseline", "dataset", "split", "n", "delta_f1_macro", "ci_low", "ci_high", "delta_accuracy", "accuracy_ci_low", "accuracy_ci_high", "mcnemar_p", "per_class_delta", "verdict", "reasons", "candidate_report", "baseline_report", "metric", "delta", "p_value", "test")
    class PerClassDeltaEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    DELTA_F1_MACRO_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    DELTA_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    MCNEMAR_P_FIELD_NUMBER: _ClassVar[int]
    PER_CLASS_DELTA_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_REPORT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_REPORT_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    baseline: str
    dataset: str
    split: str
    n: int
    delta_f1_macro: float
    ci_low: float
    ci_high: float
    delta_accuracy: float
    accuracy_ci_low: float
    accuracy_ci_high: float
    mcnemar_p: float
    per_class_delta: _containers.ScalarMap[str, float]
    verdict: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    candidate_report: EvaluationReport
    baseline_report: EvaluationReport
    metric: str
    delta: float
    p_value: float
    test: str
    def __init__(self, candidate: _Optional[str] = ..., baseline: _Optional[str] = ..., dataset: _Optional[str] = ..., split: _Optional[str] = ..., n: _Optional[int] = ..., delta_f1_macro: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., delta_accuracy: _Optional[float] = ..., accuracy_ci_low: _Optional[float] = ..., accuracy_ci_high: _Optional[float] = ..., mcnemar_p: _Optional[float] = ..., per_class_delta: _Optional[_Mapping[str, float]] = ..., verdict: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., candidate_report: _Optional[_Union[EvaluationReport, _Mapping]] = ..., baseline_report: _Optional[_Union[EvaluationReport, _Mapping]] = ..., metric: _Optional[str] = ..., delta: _Optional[float] = ..., p_value: _Optional[float] = ..., test: _Optional[str] = ...) -> None: ...
