"""The thin gRPC layer of the serving service: convert requests and answers, call the core.

`PredictStream` reads ahead: a thread submits each request as it arrives (up to `WINDOW`
unanswered), so a stream's own requests are batched together and with everyone else's, while
the answers go back one per request, in order. A failed request ends the stream with its
status, as a unary call would.
"""

from __future__ import annotations

import contextlib
import queue
import threading

from tuneloop.core.server import Registration
from tuneloop.core.server import registration as register_servicer
from tuneloop.serving.core import Pending, Prediction, ServingCore
from tuneloop.serving.feedback import Feedback
from tuneloop.v1 import serving_pb2, serving_pb2_grpc

WINDOW = 64  # requests of one stream queued unanswered, at most


def to_proto(p: Prediction) -> serving_pb2.PredictResponse:
    a = p.answer
    return serving_pb2.PredictResponse(
        prediction_id=p.prediction_id, model_version=p.model_version, label=a.label, generated=a.generated,
        truncated=a.truncated, logged=p.logged, top=[serving_pb2.LabelScore(label=k, probability=v) for k, v in a.top])


class ServingServicer(serving_pb2_grpc.ServingServiceServicer):
    def __init__(self, core: ServingCore, feedback: Feedback) -> None:
        self.core = core
        self.feedback = feedback

    def _submit(self, request: serving_pb2.PredictRequest) -> Pending:
        item = self.core.item(text=request.text, image=request.image, top_k=request.top_k,
                              max_new_tokens=request.max_new_tokens)
        return self.core.submit(request.model, item)

    def Predict(self, request, context):
        return to_proto(self._submit(request).result())

    def PredictStream(self, request_iterator, context):
        pending: queue.Queue = queue.Queue(maxsize=WINDOW)
        done = threading.Event()

        def put(x) -> bool:
            while not done.is_set():
                with contextlib.suppress(queue.Full):
                    pending.put(x, timeout=0.2)
                    return True
            return False

        def read() -> None:
            try:
                for message in request_iterator:
                    if not put(self._submit(message.request)):
                        return  # the answers' side has gone; what was queued is answered all the same
            except Exception as exc:  # noqa: BLE001  # any failure is the stream's: raised there, in order
                put(exc)
            finally:
                put(None)

        threading.Thread(target=read, name="predict-stream", daemon=True).start()
        try:
            while True:
                x = pending.get()
                if x is None:
                    return
                if isinstance(x, Exception):
                    raise x
                yield serving_pb2.PredictStreamResponse(response=to_proto(x.result()))
        finally:
            done.set()

    def Feedback(self, request, context):
        return serving_pb2.FeedbackResponse(**self.feedback.record(request.prediction_id, request.label))

    def AppendFeedback(self, request, context):
        return serving_pb2.AppendFeedbackResponse(appended=[
            serving_pb2.AppendedFeedback(dataset_version=a.dataset_version, rows=a.rows, created=a.created,
                                         dropped=a.dropped) for a in self.feedback.append(request.model)])

    def LiveStats(self, request, context):
        found = self.feedback.live(request.model, request.window, request.baseline_accuracy)
        return serving_pb2.LiveStatsResponse(versions=[serving_pb2.VersionLiveStats(**vars(x)) for x in found])

    def ServeStatus(self, request, context):
        return serving_pb2.ServeStatusResponse(versions=[serving_pb2.LoadedVersion(**v) for v in self.core.status()])


def registration(core: ServingCore, feedback: Feedback) -> Registration:
    return register_servicer(ServingServicer(core, feedback), serving_pb2_grpc.add_ServingServiceServicer_to_server,
                             serving_pb2.DESCRIPTOR.services_by_name["ServingService"])
