"""Client of the evaluator service."""

from __future__ import annotations

from tuneloop.client.base import ServiceClient
from tuneloop.v1 import evaluator_pb2, evaluator_pb2_grpc


class EvaluatorClient(ServiceClient):
    stub_class = evaluator_pb2_grpc.EvaluatorServiceStub

    def evaluate(self, model: str, dataset: str, split: str = "test", *, refresh: bool = False
                 ) -> evaluator_pb2.EvaluationReport:
        req = evaluator_pb2.EvaluateRequest(model=model, dataset=dataset, split=split, refresh=refresh)
        return self._call("Evaluate", req).report

    def compare(self, candidate: str, baseline: str, dataset: str, split: str = "test",
                **policy) -> evaluator_pb2.CompareResponse:
        """Policy fields (min_improvement, alpha, max_class_drop, resamples, seed) left None take defaults."""
        req = evaluator_pb2.CompareRequest(
            candidate=candidate, baseline=baseline, dataset=dataset, split=split,
            policy=evaluator_pb2.GatePolicy(**{k: v for k, v in policy.items() if v is not None}))
        return self._call("Compare", req)
