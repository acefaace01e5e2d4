"""The thin gRPC layer of the evaluator: convert requests and reports, call the core."""

from __future__ import annotations

from tuneloop.core.server import Registration
from tuneloop.core.server import registration as register_servicer
from tuneloop.evaluator.compare import GatePolicy
from tuneloop.evaluator.core import EvaluatorCore
from tuneloop.evaluator.records import Evaluation, Report
from tuneloop.v1 import evaluator_pb2, evaluator_pb2_grpc

_SCALARS = ("n", "accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted",
            "f1_weighted", "log_loss", "ece", "examples_per_second")


def report_to_proto(rep: Report, *, cached: bool = False, stored: Evaluation | None = None
                    ) -> evaluator_pb2.EvaluationReport:
    cm = rep.confusion_matrix
    msg = evaluator_pb2.EvaluationReport(
        model=rep.model, dataset=rep.dataset, split=rep.split, cached=cached,
        per_class={k: evaluator_pb2.ClassMetrics(**v.model_dump()) for k, v in rep.per_class.items()},
        confusion_matrix=evaluator_pb2.ConfusionMatrix(
            labels=cm.labels, rows=[evaluator_pb2.ConfusionRow(counts=row) for row in cm.matrix]),
        **{k: getattr(rep, k) for k in _SCALARS}, task=rep.task, score=rep.score,
        warnings=rep.warnings,
        calibration=[evaluator_pb2.CalibrationBin(**b.model_dump()) for b in rep.calibration],
    )
    if rep.generation is not None:
        msg.generation.CopyFrom(evaluator_pb2.GenerationMetrics(
            **rep.generation.model_dump(exclude={"samples"}),
            samples=[evaluator_pb2.GeneratedSample(**s.model_dump()) for s in rep.generation.samples]))
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
        stored, cached = self.core.evaluate(request.model, request.dataset, request.split, refresh=request.refresh,
                                            max_new_tokens=request.max_new_tokens, stored_only=request.stored_only)
        return evaluator_pb2.EvaluateResponse(report=report_to_proto(stored.report, cached=cached, stored=stored))

    def Compare(self, request, context):
        out = self.core.compare(request.candidate, request.baseline, request.dataset, request.split,
                                policy_from_proto(request.policy), max_new_tokens=request.max_new_tokens)
        return evaluator_pb2.CompareResponse(
            **out.model_dump(mode="json", exclude={"candidate_report", "baseline_report"}),
            candidate_report=report_to_proto(out.candidate_report),
            baseline_report=report_to_proto(out.baseline_report))


def registration(core: EvaluatorCore) -> Registration:
    return register_servicer(EvaluatorServicer(core), evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server,
                             evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"])
