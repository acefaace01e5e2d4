"""The trainer use cases, free of gRPC: submit (with every check a caller should hear about
at once), look up, list, cancel and watch jobs.

Submit checks the inputs before queueing: the dataset and base model exist (NOT_FOUND),
the dataset has at least two labels and the model is an encoder with a
sequence-classification head (FAILED_PRECONDITION), `freeze_layers` fits the model's
depth (INVALID_ARGUMENT). The base model is downloaded into the trainer's cache then,
which the job needs anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from tuneloop.core.names import check_name
from tuneloop.core.settings import TrainerSettings
from tuneloop.core.streams import follow_log
from tuneloop.errors import FailedPrecondition, InvalidArgument
from tuneloop.ml.inputs import Inputs
from tuneloop.ml.modeling import check_encoder
from tuneloop.ml.spec import TrainSpec
from tuneloop.trainer.records import Job, JobEvent, State
from tuneloop.trainer.runner import Runner
from tuneloop.trainer.store import JobStore


class TrainerCore:
    def __init__(self, jobs: JobStore, inputs: Inputs, settings: TrainerSettings, storage_url: str) -> None:
        self.jobs = jobs
        self.inputs = inputs
        self.settings = settings
        self.changed = threading.Condition()
        self.runner = Runner(jobs, inputs, settings, self.changed, storage_url)

    def submit(self, spec: TrainSpec, *, idempotency_key: str = "") -> Job:
        check_name(spec.model, what="output model name")
        if idempotency_key and (earlier := self.jobs.by_key(idempotency_key)) is not None:
            return earlier
        dataset = self.inputs.dataset(spec.dataset)
        if len(dataset.labels) < 2:
            raise FailedPrecondition(f"dataset {dataset.dataset}@{dataset.version} has "
                                     f"{len(dataset.labels)} label(s): classification needs at least 2")
        base = self.inputs.model(spec.base_model)
        depth = check_encoder(self.inputs.model_dir(base))
        if spec.freeze_layers > depth:
            raise InvalidArgument(f"freeze_layers {spec.freeze_layers} exceeds the model's {depth} layers")
        job = self.jobs.create(spec.model_dump(), dataset=f"{dataset.dataset}@{dataset.version}",
                               base_model=f"{base.model}@{base.version}", idempotency_key=idempotency_key)
        self.runner.wake()
        return job

    def get(self, job_id: str) -> Job:
        return self.jobs.get(job_id)

    def list(self, *, limit: int, offset: int) -> list[Job]:
        return self.jobs.list(limit=limit, offset=offset)

    def cancel(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job.state.final:
            raise FailedPrecondition(f"job {job_id} already ended {job.state.value}")
        self.jobs.request_cancel(job_id)
        if not self.jobs.transition(job_id, State.CANCELLED, allowed=(State.QUEUED,)):
            self.runner.cancel(job_id)  # RUNNING: stop the Ray run; the runner records CANCELLED
        self.runner.wake()
        return self.jobs.get(job_id)

    def watch(self, job_id: str, after_id: int = 0, *, follow: bool = True,
              active: Callable[[], bool] = lambda: True) -> Iterator[JobEvent]:
        """The job's events after `after_id`; with `follow`, until the job ends (or the caller leaves)."""
        self.jobs.get(job_id)  # NOT_FOUND before streaming anything
        return follow_log(lambda cursor: self.jobs.events_after(job_id, cursor), lambda e: e.id, after=after_id,
                          follow=follow, active=active, changed=self.changed, poll_seconds=self.settings.poll_seconds,
                          finished=lambda: self.jobs.get(job_id).state.final)
