"""Client of the serving service."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tuneloop.client.base import ServiceClient, Stream
from tuneloop.v1 import serving_pb2, serving_pb2_grpc


def request(model: str, text: str = "", *, image: bytes = b"", top_k: int = 0,
            max_new_tokens: int = 0) -> serving_pb2.PredictRequest:
    """One prediction request: `text` (a classifier's input or a decoder's prompt) or `image` bytes."""
    req = serving_pb2.PredictRequest(model=model, top_k=top_k, max_new_tokens=max_new_tokens)
    if image:
        req.image = image
    else:
        req.text = text
    return req


class Answers(Stream):
    """The answers of a PredictStream, in the order of its requests; `cancel()` stops it early."""

    def __iter__(self) -> Iterator[serving_pb2.PredictResponse]:
        for message in super().__iter__():
            yield message.response


class ServingClient(ServiceClient):
    stub_class = serving_pb2_grpc.ServingServiceStub

    def predict(self, model: str, text: str = "", **options) -> serving_pb2.PredictResponse:
        """`model`: MODEL (its champion), MODEL:ALIAS or MODEL@VERSION; options: image, top_k, max_new_tokens."""
        return self.send(request(model, text, **options))

    def send(self, req: serving_pb2.PredictRequest) -> serving_pb2.PredictResponse:
        """One prediction of a request built with `request`."""
        return self._call("Predict", req)

    def predict_stream(self, requests: Iterable[serving_pb2.PredictRequest], *,
                       timeout: float | None = None) -> Answers:
        """One answer per request, in order (build requests with `request`)."""
        messages = (serving_pb2.PredictStreamRequest(request=r) for r in requests)
        return Answers(self.stub.PredictStream(messages, metadata=self.metadata, timeout=timeout))

    def status(self) -> list[serving_pb2.LoadedVersion]:
        return list(self._call("ServeStatus", serving_pb2.ServeStatusRequest()).versions)

    def feedback(self, prediction_id: str, label: str) -> serving_pb2.FeedbackResponse:
        """Record the true label (or completion) of an earlier prediction."""
        return self._call("Feedback", serving_pb2.FeedbackRequest(prediction_id=prediction_id, label=label))

    def append_feedback(self, model: str) -> list[serving_pb2.AppendedFeedback]:
        """Append the feedback on `model`'s predictions to its training datasets (a new version each)."""
        return list(self._call("AppendFeedback", serving_pb2.AppendFeedbackRequest(model=model)).appended)

    def live(self, model: str, *, window: int = 0, baseline_accuracy: float = 0.0) -> list[serving_pb2.VersionLiveStats]:
        """Live accuracy and macro-F1 on the latest feedback: of `MODEL@VERSION`, or of each of
        MODEL's versions that has feedback; with a baseline, the p-value of falling below it."""
        req = serving_pb2.LiveStatsRequest(model=model, window=window, baseline_accuracy=baseline_accuracy)
        return list(self._call("LiveStats", req).versions)
