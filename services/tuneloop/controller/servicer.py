"""The thin gRPC layer of the controller."""

from __future__ import annotations

import json

from tuneloop.controller.core import ControllerCore
from tuneloop.controller.records import Policy, Run
from tuneloop.core.server import Registration
from tuneloop.core.server import registration as register_servicer
from tuneloop.errors import InvalidArgument
from tuneloop.v1 import controller_pb2, controller_pb2_grpc

REPORT_CHUNK = 1 << 20  # a report is a few hundred KB: gRPC's 4 MB message limit is never near


def policy_to_proto(p: Policy) -> controller_pb2.Policy:
    msg = controller_pb2.Policy(name=p.name, spec_json=json.dumps(p.spec, sort_keys=True), paused=p.paused)
    msg.created_at.FromDatetime(p.created_at)
    return msg


def run_to_proto(r: Run) -> controller_pb2.Run:
    msg = controller_pb2.Run(id=r.id, policy=r.policy, state=r.state.value, trigger=r.trigger.value, dataset=r.dataset,
                             job=r.job, candidate=r.candidate, champion_before=r.champion_before,
                             champion_after=r.champion_after, verdict=r.verdict, reasons=r.reasons, error=r.error)
    msg.started.FromDatetime(r.started)
    if r.finished:
        msg.finished.FromDatetime(r.finished)
    return msg


class ControllerServicer(controller_pb2_grpc.ControllerServiceServicer):
    def __init__(self, core: ControllerCore) -> None:
        self.core = core

    def CreatePolicy(self, request, context):
        try:
            spec = json.loads(request.spec_json or "{}")
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"spec_json is not JSON: {exc.msg} at character {exc.pos}") from None
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number; nesting deeper than Python's stack
            raise InvalidArgument(f"spec_json is not acceptable JSON: {str(exc)[:120]}") from None
        if not isinstance(spec, dict):
            raise InvalidArgument("spec_json must be a JSON object")
        return controller_pb2.CreatePolicyResponse(policy=policy_to_proto(self.core.create_policy(request.name,
                                                                                                  spec)))

    def ListPolicies(self, request, context):
        return controller_pb2.ListPoliciesResponse(policies=[policy_to_proto(p) for p in self.core.policies()])

    def SetPaused(self, request, context):
        return controller_pb2.SetPausedResponse(policy=policy_to_proto(self.core.set_paused(request.name,
                                                                                            request.paused)))

    def TriggerRun(self, request, context):
        return controller_pb2.TriggerRunResponse(run=run_to_proto(self.core.trigger(request.name)))

    def Rollback(self, request, context):
        return controller_pb2.RollbackResponse(run=run_to_proto(self.core.rollback(request.name)))

    def ListRuns(self, request, context):
        return controller_pb2.ListRunsResponse(runs=[run_to_proto(r) for r in self.core.runs(request.name)])

    def WatchRuns(self, request, context):
        for event_id, run in self.core.watch(request.after_id, policy=request.policy, follow=request.follow,
                                             active=context.is_active):
            yield controller_pb2.WatchRunsResponse(id=event_id, run=run_to_proto(run))


    def GetRunReport(self, request, context):
        model, page = self.core.report(request.run)
        data = page.encode()
        for start in range(0, max(len(data), 1), REPORT_CHUNK):
            yield controller_pb2.GetRunReportResponse(model=model if start == 0 else "",
                                                      data=data[start:start + REPORT_CHUNK])


def registration(core: ControllerCore) -> Registration:
    return register_servicer(ControllerServicer(core), controller_pb2_grpc.add_ControllerServiceServicer_to_server,
                             controller_pb2.DESCRIPTOR.services_by_name["ControllerService"])
