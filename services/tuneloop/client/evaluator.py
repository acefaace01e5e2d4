"""Client of the evaluator service."""

from __future__ import annotations

from tuneloop.client.base import ServiceClient
from tuneloop.v1 import evaluator_pb2, evaluator_pb2_grpc


class EvaluatorClient(ServiceClient):
    stub_class = evaluator_pb2_grpc.EvaluatorServiceStub

    def evaluate(self, model: str, dataset: str, split: str = "test", *, refresh: bool = False,
                 max_new_tokens: int = 0, stored_only: bool = False) -> evaluator_pb2.EvaluationReport:
        """`max_new_tokens` (text-generation): tokens per generated completion; 0: the default (32).
        `stored_only`: the stored report, never computed (NOT_FOUND when there is none)."""
        req = evaluator_pb2.EvaluateRequest(model=model, dataset=dataset, split=split, refresh=refresh,
                                            max_new_tokens=max_new_tokens, stored_only=stored_only)
        return self._call("Evaluate", req).report

    def compare(self, candidate: str, baseline: str, dataset: str, split: str = "test", *, max_new_tokens: int = 0,
                **policy) -> evaluator_pb2.CompareResponse:
        """Policy fields (min_improvement, alpha, max_class_drop, resamples, seed) left None take defaults."""
        req = evaluator_pb2.CompareRequest(
            candidate=candidate, baseline=baseline, dataset=dataset, split=split, max_new_tokens=max_new_tokens,
            policy=evaluator_pb2.GatePolicy(**{k: v for k, v in policy.items() if v is not None}))
        return self._call("Compare", req)
