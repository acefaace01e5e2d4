"""The thin gRPC layer of the evaluator: convert requests and reports, call the core."""

from __future__ import annotations

import grpc

from tuneloop.evaluator.compare import GatePolicy
from tuneloop.evaluator.core import EvaluatorCore
from tuneloop.evaluator.store import Stored
from tuneloop.v1 import evaluator_pb2, evaluator_pb2_grpc

_SCALARS = ("n", "accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted",
            "f1_weighted", "log_loss", "ece", "examples_per_second")


def report_to_proto(rep: dict, *, cached: bool = False, stored: Stored | None = None) -> evaluator_pb2.EvaluationReport:
    cm = rep["confusion_matrix"]
    msg = evaluator_pb2.EvaluationReport(
        model=rep["model"], dataset=rep["dataset"], split=rep["split"], cached=cached,
        per_class={k: evaluator_pb2.ClassMetrics(**v) for k, v in rep["per_class"].items()},
        confusion_matrix=evaluator_pb2.ConfusionMatrix(
            labels=cm["labels"], rows=[evaluator_pb2.ConfusionRow(counts=row) for row in cm["matrix"]]),
        **{k: rep[k] for k in _SCALARS},
    )
    if stored is not None:
        msg.created_at.FromDatetime(stored.created_at)
    return msg


def policy_from_proto(msg: evaluator_pb2.GatePolicy) -> GatePolicy:
    fields = ("min_improvement", "alpha", "max_class_drop", "resamples", "seed")
    return GatePolicy(**{f: getattr(msg, f) for f in fields if msg.HasField(f)})


class EvaluatorServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    def __init__(self, core: EvaluatorCore) -> None:
        self.core = core

    def Evaluate(self, request, context):
        stored, cached = self.core.evaluate(request.model, request.dataset, request.split, refresh=request.refresh)
        return evaluator_pb2.EvaluateResponse(report=report_to_proto(stored.report, cached=cached, stored=stored))

    def Compare(self, request, context):
        out = self.core.compare(request.candidate, request.baseline, request.dataset, request.split,
                                policy_from_proto(request.policy))
        return evaluator_pb2.CompareResponse(
            candidate=out["candidate"], baseline=out["baseline"], dataset=out["dataset"], split=out["split"],
            n=out["n"], delta_f1_macro=out["delta_f1_macro"], ci_low=out["ci_low"], ci_high=out["ci_high"],
            delta_accuracy=out["delta_accuracy"], accuracy_ci_low=out["accuracy_ci_low"],
            accuracy_ci_high=out["accuracy_ci_high"], mcnemar_p=out["mcnemar_p"],
            per_class_delta=out["per_class_delta"], verdict=out["verdict"], reasons=out["reasons"],
            candidate_report=report_to_proto(out["candidate_report"]),
            baseline_report=report_to_proto(out["baseline_report"]))


def registration(core: EvaluatorCore):
    def register(server: grpc.Server) -> str:
        evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server(EvaluatorServicer(core), server)
        return evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"].full_name

    return register
