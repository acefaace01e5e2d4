"""The thin gRPC layer of the trainer: convert specs and jobs, call the core."""

from __future__ import annotations

import json

from tuneloop.core.paging import next_token, page_bounds
from tuneloop.core.server import Registration
from tuneloop.core.server import registration as register_servicer
from tuneloop.errors import InvalidArgument
from tuneloop.ml.space import GRACE_PERIOD, REDUCTION_FACTOR
from tuneloop.ml.spec import HYPERPARAMETERS, TrainSpec, make_spec
from tuneloop.trainer.core import TrainerCore
from tuneloop.trainer.records import Job, JobEvent, State
from tuneloop.v1 import trainer_pb2, trainer_pb2_grpc

STATE_TO_PROTO = {State(s.removeprefix("JOB_STATE_")): v for s, v in trainer_pb2.JobState.items()
                  if s != "JOB_STATE_UNSPECIFIED"}


def spec_from_proto(msg: trainer_pb2.TrainSpec) -> TrainSpec:
    """The one place the proto meets the spec: every hyperparameter the message sets (unset
    ones take the spec's defaults). A test keeps the message's fields equal to the spec's."""
    values = {name: getattr(msg, name) for name in HYPERPARAMETERS if msg.HasField(name)}
    return make_spec(dataset=msg.dataset, base_model=msg.base_model, model=msg.model, **values)


def sweep_from_proto(msg: trainer_pb2.SweepSpec) -> dict:
    try:
        space = json.loads(msg.space_json) if msg.space_json else None
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"invalid search space: not JSON ({exc})") from exc
    return {"space": space, "trials": msg.trials, "max_concurrent": msg.max_concurrent, "searcher": msg.searcher,
            "scheduler": msg.scheduler, "seed": msg.seed, "reduction_factor": msg.reduction_factor,
            "grace_period": msg.grace_period}


def sweep_to_proto(sweep: dict) -> trainer_pb2.SweepSpec:
    return trainer_pb2.SweepSpec(space_json=json.dumps(sweep["space"], sort_keys=True), trials=sweep["trials"],
                                 max_concurrent=sweep["max_concurrent"], searcher=sweep["searcher"],
                                 scheduler=sweep["scheduler"], seed=sweep["seed"],
                                 reduction_factor=sweep.get("reduction_factor", REDUCTION_FACTOR),
                                 grace_period=sweep.get("grace_period", GRACE_PERIOD))


def trial_to_proto(trial: dict) -> trainer_pb2.Trial:
    score = trial.get("best_score")
    return trainer_pb2.Trial(id=trial["trial"], state=trial.get("state", ""),
                             config_json=json.dumps(trial.get("config", {}), sort_keys=True),
                             best_score=score if score is not None and score > -1e29 else float("nan"),
                             epochs=int(trial.get("epochs", 0)), seconds=float(trial.get("seconds", 0.0)),
                             error=trial.get("error", ""))


def job_to_proto(job: Job) -> trainer_pb2.Job:
    msg = trainer_pb2.Job(
        id=job.id, state=STATE_TO_PROTO[job.state], spec_json=json.dumps(job.spec, sort_keys=True),
        dataset=job.dataset, base_model=job.base_model, model=job.result_model, metrics=job.metrics,
        error=job.error, tensorboard=job.tensorboard, attempts=job.attempts, cancel_requested=job.cancel_requested,
        warnings=list(job.warnings), trials=[trial_to_proto(t) for t in job.trials])
    if job.sweep:
        msg.sweep.CopyFrom(sweep_to_proto(job.sweep))
    msg.created_at.FromDatetime(job.created_at)
    if job.started_at:
        msg.started_at.FromDatetime(job.started_at)
    if job.finished_at:
        msg.finished_at.FromDatetime(job.finished_at)
    return msg


def event_to_proto(event: JobEvent) -> trainer_pb2.JobEvent:
    msg = trainer_pb2.JobEvent(id=event.id, job=event.job_id, type=event.type,
                               data_json=json.dumps(event.data, sort_keys=True))
    msg.at.FromDatetime(event.at)
    return msg


class TrainerServicer(trainer_pb2_grpc.TrainerServiceServicer):
    def __init__(self, core: TrainerCore) -> None:
        self.core = core

    def SubmitJob(self, request, context):
        job = self.core.submit(spec_from_proto(request.spec), idempotency_key=request.idempotency_key,
                               sweep=sweep_from_proto(request.sweep) if request.HasField("sweep") else None)
        return trainer_pb2.SubmitJobResponse(job=job_to_proto(job))

    def GetJob(self, request, context):
        return trainer_pb2.GetJobResponse(job=job_to_proto(self.core.get(request.id)))

    def ListJobs(self, request, context):
        limit, offset = page_bounds(request.page.page_size, request.page.page_token)
        jobs = self.core.list(limit=limit, offset=offset)
        return trainer_pb2.ListJobsResponse(jobs=[job_to_proto(j) for j in jobs],
                                            next_page_token=next_token(offset, limit, len(jobs)))

    def CancelJob(self, request, context):
        return trainer_pb2.CancelJobResponse(job=job_to_proto(self.core.cancel(request.id)))

    def WatchJob(self, request, context):
        for event in self.core.watch(request.id, request.after_id, follow=request.follow, active=context.is_active):
            yield trainer_pb2.WatchJobResponse(event=event_to_proto(event))


def registration(core: TrainerCore) -> Registration:
    return register_servicer(TrainerServicer(core), trainer_pb2_grpc.add_TrainerServiceServicer_to_server,
                             trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"])
