from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PredictRequest(_message.Message):
    __slots__ = ("model", "text", "image", "top_k", "max_new_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    text: str
    image: bytes
    top_k: int
    max_new_tokens: int
    def __init__(self, model: _Optional[str] = ..., text: _Optional[str] = ..., image: _Optional[bytes] = ..., top_k: _Optional[int] = ..., max_new_tokens: _Optional[int] = ...) -> None: ...

class LabelScore(_message.Message):
    __slots__ = ("label", "probability")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    label: str
    probability: float
    def __init__(self, label: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("prediction_id", "model_version", "label", "top", "generated", "truncated", "logged")
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    LOGGED_FIELD_NUMBER: _ClassVar[int]
    prediction_id: str
    model_version: str
    label: str
    top: _containers.RepeatedCompositeFieldContainer[LabelScore]
    generated: str
    truncated: bool
    logged: bool
    def __init__(self, prediction_id: _Optional[str] = ..., model_version: _Optional[str] = ..., label: _Optional[str] = ..., top: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ..., generated: _Optional[str] = ..., truncated: _Optional[bool] = ..., logged: _Optional[bool] = ...) -> None: ...

class PredictStreamRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: PredictRequest
    def __init__(self, request: _Optional[_Union[PredictRequest, _Mapping]] = ...) -> None: ...

class PredictStreamResponse(_message.Message):
    __slots__ = ("response",)
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    response: PredictResponse
    def __init__(self, response: _Optional[_Union[PredictResponse, _Mapping]] = ...) -> None: ...

class ServeStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LoadedVersion(_message.Message):
    __slots__ = ("model_version", "task", "serves", "requests", "batches", "in_flight", "queued")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SERVES_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    task: str
    serves: _containers.RepeatedScalarFieldContainer[str]
    requests: int
    batches: int
    in_flight: int
    queued: int
    def __init__(self, model_version: _Optional[str] = ..., task: _Optional[str] = ..., serves: _Optional[_Iterable[str]] = ..., requests: _Optional[int] = ..., batches: _Optional[int] = ..., in_flight: _Optional[int] = ..., queued: _Optional[int] = ...) -> None: ...

class ServeStatusResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[LoadedVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[LoadedVersion, _Mapping]]] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("prediction_id", "label")
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    prediction_id: str
    label: str
    def __init__(self, prediction_id: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ("prediction_id", "model_version", "predicted", "label", "correct")
    PREDICTION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    prediction_id: str
    model_version: str
    predicted: str
    label: str
    correct: bool
    def __init__(self, prediction_id: _Optional[str] = ..., model_version: _Optional[str] = ..., predicted: _Optional[str] = ..., label: _Optional[str] = ..., correct: _Optional[bool] = ...) -> None: ...

class AppendFeedbackRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class AppendedFeedback(_message.Message):
    __slots__ = ("dataset_version", "rows", "created", "dropped")
    class DroppedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dataset_version: str
    rows: int
    created: bool
    dropped: _containers.ScalarMap[str, int]
    def __init__(self, dataset_version: _Optional[str] = ..., rows: _Optional[int] = ..., created: _Optional[bool] = ..., dropped: _Optional[_Mapping[str, int]] = ...) -> None: ...

class AppendFeedbackResponse(_message.Message):
    __slots__ = ("appended",)
    APPENDED_FIELD_NUMBER: _ClassVar[int]
    appended: _containers.RepeatedCompositeFieldContainer[AppendedFeedback]
    def __init__(self, appended: _Optional[_Iterable[_Union[AppendedFeedback, _Mapping]]] = ...) -> None: ...

class LiveStatsRequest(_message.Message):
    __slots__ = ("model", "window", "baseline_accuracy")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    BASELINE_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    model: str
    window: int
    baseline_accuracy: float
    def __init__(self, model: _Optional[str] = ..., window: _Optional[int] = ..., baseline_accuracy: _Optional[float] = ...) -> None: ...

class VersionLiveStats(_message.Message):
    __slots__ = ("model_version", "feedback", "correct", "accuracy", "f1_macro", "p_below_baseline", "requests", "shadowed", "agreement", "champion_accuracy", "label_shift", "length_shift", "unseen_words", "validation_unseen_words")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    F1_MACRO_FIELD_NUMBER: _ClassVar[int]
    P_BELOW_BASELINE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SHADOWED_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LABEL_SHIFT_FIELD_NUMBER: _ClassVar[int]
    LENGTH_SHIFT_FIELD_NUMBER: _ClassVar[int]
    UNSEEN_WORDS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_UNSEEN_WORDS_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    feedback: int
    correct: int
    accuracy: float
    f1_macro: float
    p_below_baseline: float
    requests: int
    shadowed: int
    agreement: float
    champion_accuracy: float
    label_shift: float
    length_shift: float
    unseen_words: float
    validation_unseen_words: float
    def __init__(self, model_version: _Optional[str] = ..., feedback: _Optional[int] = ..., correct: _Optional[int] = ..., accuracy: _Optional[float] = ..., f1_macro: _Optional[float] = ..., p_below_baseline: _Optional[float] = ..., requests: _Optional[int] = ..., shadowed: _Optional[int] = ..., agreement: _Optional[float] = ..., champion_accuracy: _Optional[float] = ..., label_shift: _Optional[float] = ..., length_shift: _Optional[float] = ..., unseen_words: _Optional[float] = ..., validation_unseen_words: _Optional[float] = ...) -> None: ...

class LiveStatsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[VersionLiveStats]
    def __init__(self, versions: _Optional[_Iterable[_Union[VersionLiveStats, _Mapping]]] = ...) -> None: ...
