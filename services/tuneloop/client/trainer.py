"""Client of the trainer service: submit jobs, follow them, cancel them."""

from __future__ import annotations

import json

from tuneloop.client.base import ServiceClient
from tuneloop.v1 import trainer_pb2, trainer_pb2_grpc

FINAL = {trainer_pb2.JOB_STATE_SUCCEEDED, trainer_pb2.JOB_STATE_FAILED, trainer_pb2.JOB_STATE_CANCELLED}


def state_name(state: int) -> str:
    return trainer_pb2.JobState.Name(state).removeprefix("JOB_STATE_")


class TrainerClient(ServiceClient):
    stub_class = trainer_pb2_grpc.TrainerServiceStub

    def submit(self, *, dataset: str, base_model: str, model: str, idempotency_key: str = "",
               sweep: dict | None = None, **hyperparameters) -> trainer_pb2.Job:
        """Queue a job; hyperparameters not given (or None) take the server's defaults. A repeated
        `idempotency_key` returns the job first submitted with it. With `sweep` ({"space": {option:
        range}, "trials": N, and optionally "max_concurrent", "searcher", "scheduler", "seed", "reduction_factor",
        "grace_period"}) the
        job is a hyperparameter sweep over those options (see tuneloop.ml.space)."""
        spec = trainer_pb2.TrainSpec(dataset=dataset, base_model=base_model, model=model,
                                     **{k: v for k, v in hyperparameters.items() if v is not None})
        req = trainer_pb2.SubmitJobRequest(spec=spec, idempotency_key=idempotency_key)
        if sweep is not None:
            req.sweep.CopyFrom(trainer_pb2.SweepSpec(
                space_json=json.dumps(sweep.get("space")), trials=int(sweep.get("trials", 0)),
                max_concurrent=int(sweep.get("max_concurrent", 0)), searcher=sweep.get("searcher", ""),
                scheduler=sweep.get("scheduler", ""), seed=int(sweep.get("seed", 0)),
                reduction_factor=int(sweep.get("reduction_factor", 0)), grace_period=int(sweep.get("grace_period", 0))))
        return self._call("SubmitJob", req).job

    def get(self, job_id: str) -> trainer_pb2.Job:
        return self._call("GetJob", trainer_pb2.GetJobRequest(id=job_id)).job

    def list(self) -> list[trainer_pb2.Job]:
        return self._pages("ListJobs", trainer_pb2.ListJobsRequest, "jobs")

    def cancel(self, job_id: str) -> trainer_pb2.Job:
        return self._call("CancelJob", trainer_pb2.CancelJobRequest(id=job_id)).job

    def watch(self, job_id: str, after_id: int = 0, *, follow: bool = True, timeout: float | None = None):
        """The job's events as they happen (`.cancel()` the stream to stop early)."""
        req = trainer_pb2.WatchJobRequest(id=job_id, after_id=after_id, follow=follow)
        return self._stream("WatchJob", req, timeout=timeout)

    def wait(self, job_id: str, *, timeout: float = 3600) -> trainer_pb2.Job:
        """Block until the job ends (following its event stream), then return it."""
        for _ in self.watch(job_id, timeout=timeout):
            pass
        return self.get(job_id)
