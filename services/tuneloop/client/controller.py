"""Client of the controller service: retraining policies and their runs."""

from __future__ import annotations

import json
import time

from tuneloop.client.base import ServiceClient
from tuneloop.v1 import controller_pb2, controller_pb2_grpc


class ControllerClient(ServiceClient):
    stub_class = controller_pb2_grpc.ControllerServiceStub

    def create_policy(self, name: str, **spec) -> controller_pb2.Policy:
        """Spec fields (dataset, base_model, model, train={...}, min_new_rows, ...); None ones are left out."""
        body = json.dumps({k: v for k, v in spec.items() if v is not None})
        return self._call("CreatePolicy", controller_pb2.CreatePolicyRequest(name=name, spec_json=body)).policy

    def policies(self) -> list[controller_pb2.Policy]:
        return list(self._call("ListPolicies", controller_pb2.ListPoliciesRequest()).policies)

    def set_paused(self, name: str, paused: bool) -> controller_pb2.Policy:
        return self._call("SetPaused", controller_pb2.SetPausedRequest(name=name, paused=paused)).policy

    def trigger(self, name: str) -> controller_pb2.Run:
        return self._call("TriggerRun", controller_pb2.TriggerRunRequest(name=name)).run

    def rollback(self, name: str) -> controller_pb2.Run:
        return self._call("Rollback", controller_pb2.RollbackRequest(name=name)).run

    def runs(self, name: str) -> list[controller_pb2.Run]:
        return list(self._call("ListRuns", controller_pb2.ListRunsRequest(name=name)).runs)

    def watch(self, after_id: int = 0, *, policy: str = "", follow: bool = True, timeout: float | None = None):
        req = controller_pb2.WatchRunsRequest(after_id=after_id, policy=policy, follow=follow)
        return self._stream("WatchRuns", req, timeout=timeout)

    def report(self, run_id: str, *, timeout: float | None = 120) -> tuple[str, str]:
        """(the model reported on, the HTML page) stored with a decided run."""
        model, parts = "", []
        for chunk in self._stream("GetRunReport", controller_pb2.GetRunReportRequest(run=run_id), timeout=timeout):
            model = model or chunk.model
            parts.append(chunk.data)
        return model, b"".join(parts).decode()

    def wait_runs(self, name: str, count: int, *, timeout: float = 3600, poll: float = 0.5) -> list[controller_pb2.Run]:
        """Block until policy `name` has `count` finished runs and none in flight; return its runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs(name)
            finished = [r for r in runs if r.finished.seconds]
            if len(finished) >= count and len(finished) == len(runs):
                return runs
            time.sleep(poll)
        raise TimeoutError(f"policy {name!r}: {count} finished runs not reached within {timeout:.0f} s")
