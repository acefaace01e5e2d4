"""The trainer use cases, free of gRPC: submit (with every check a caller should hear about
at once), look up, list, cancel and watch jobs.

Submit checks the inputs before queueing: the dataset and base model exist (NOT_FOUND),
the job's task is the dataset's (FAILED_PRECONDITION; unset, it becomes the dataset's), a
classification dataset has at least two labels, generation has a decoder, and the model is an
encoder or a decoder with a
sequence-classification head and a tokenizer (FAILED_PRECONDITION), `freeze_layers` fits the
model's depth (INVALID_ARGUMENT), and the job's estimated peak memory fits a worker
(RESOURCE_EXHAUSTED, see `ml.memory`). The base model is downloaded into the trainer's cache
then, which the job needs anyway. The stored spec is the effective one: an unset `lora` is
resolved to the model family's default there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from tuneloop.core.names import check_name
from tuneloop.core.settings import TrainerSettings
from tuneloop.core.streams import follow_log
from tuneloop.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from tuneloop.ml import memory, space, vision
from tuneloop.ml.inputs import Inputs
from tuneloop.ml.lora import lora_enabled
from tuneloop.ml.modeling import ModelInfo, inspect_model
from tuneloop.ml.spec import CLASSIFICATION, GENERATION, IMAGE_CLASSIFICATION, TrainSpec
from tuneloop.ml.vision import is_image_model
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

    def submit(self, spec: TrainSpec, *, idempotency_key: str = "", sweep: dict | None = None) -> Job:
        """Queue a training job, or with `sweep` (ml.space.check_sweep's request) a sweep over `spec`."""
        check_name(spec.model, what="output model name")
        if idempotency_key and (earlier := self.jobs.by_key(idempotency_key)) is not None:
            return earlier
        dataset = self.inputs.dataset(spec.dataset)
        task = dataset.task or CLASSIFICATION
        ref = f"{dataset.dataset}@{dataset.version}"
        if spec.task and spec.task != task:
            raise FailedPrecondition(f"a {spec.task} job cannot train on {ref}, a {task} dataset")
        if task != GENERATION and len(dataset.labels) < 2:
            raise FailedPrecondition(f"dataset {ref} has {len(dataset.labels)} label(s): classification needs at least 2")
        base = self.inputs.model(spec.base_model)
        base_dir = self.inputs.model_dir(base)
        if task == IMAGE_CLASSIFICATION or is_image_model(base_dir):
            spec = self._image_spec(spec, task, base_dir, f"{base.model}@{base.version}")
            sweep = self._sweep(spec, sweep, vision.depth(base_dir), None, base_dir)
            return self._create(spec, f"{dataset.dataset}@{dataset.version}", f"{base.model}@{base.version}",
                                idempotency_key, sweep)
        info = inspect_model(base_dir)
        if task != CLASSIFICATION and info.family != "decoder":
            raise FailedPrecondition(f"{task} needs a decoder (a causal LM); {base.model}@{base.version} is a "
                                     f"{info.model_type} {info.family}")
        if spec.freeze_layers > info.depth:
            raise InvalidArgument(f"freeze_layers {spec.freeze_layers} exceeds the model's {info.depth} layers")
        spec = spec.model_copy(update={"task": task, "lora": lora_enabled(spec.lora, family=info.family,
                                                                          freeze_layers=spec.freeze_layers)})
        sweep = self._sweep(spec, sweep, info.depth, info, base_dir)
        self._check_memory(spec, info, base_dir)
        return self._create(spec, f"{dataset.dataset}@{dataset.version}", f"{base.model}@{base.version}",
                            idempotency_key, sweep)

    def _create(self, spec: TrainSpec, dataset: str, base: str, idempotency_key: str,
                sweep: dict | None = None) -> Job:
        job = self.jobs.create(spec.model_dump(), dataset=dataset, base_model=base, idempotency_key=idempotency_key,
                               sweep=sweep)
        self.runner.wake()
        return job

    def _sweep(self, spec: TrainSpec, sweep: dict | None, depth: int, info: ModelInfo | None,
               base_dir) -> dict | None:
        """The checked sweep request (None: a plain job): its space fits the model (freeze_layers
        within its depth) and its largest trial fits a worker's memory."""
        if sweep is None:
            return None
        request = space.check_sweep(sweep, spec)
        parsed = space.parse(request["space"], spec)
        if (freeze := parsed.get("freeze_layers")) is not None and int(freeze.largest) > depth:
            raise InvalidArgument(f"invalid search space field freeze_layers: up to {freeze.largest} exceeds the "
                                  f"model's {depth} layers")
        if info is not None:
            self._check_memory(parsed.largest_spec(spec), info, base_dir)
        return request

    @staticmethod
    def _image_spec(spec: TrainSpec, task: str, base_dir, base: str) -> TrainSpec:
        """An image job's spec, checked against its base model. (No memory estimate: `ml.memory`
        models transformers; a convolutional network's activations follow other rules.)"""
        if task != IMAGE_CLASSIFICATION:
            raise FailedPrecondition(f"{base} is an image classifier: it cannot train on a {task} dataset")
        if not is_image_model(base_dir):
            raise FailedPrecondition(f"{task} needs an image classifier; {base} is not one (no "
                                     "*ForImageClassification architecture, no efficientnet.json)")
        if spec.lora:
            raise FailedPrecondition("LoRA adapters are for text models; fine-tune an image model's weights "
                                     "(freeze_layers freezes its stem and first stages)")
        if spec.freeze_layers > (stages := vision.depth(base_dir)):
            raise InvalidArgument(f"freeze_layers {spec.freeze_layers} exceeds the model's {stages} stages")
        return spec.model_copy(update={"task": task, "lora": False})

    def _check_memory(self, spec: TrainSpec, info: ModelInfo, base_dir) -> None:
        """RESOURCE_EXHAUSTED when the job's estimated peak cannot fit one worker's memory."""
        need = memory.estimate(info, memory.count_parameters(base_dir), batch_size=spec.batch_size,
                               max_length=spec.max_length, lora=bool(spec.lora), lora_rank=spec.lora_rank,
                               freeze_layers=spec.freeze_layers, causal_lm=spec.task != CLASSIFICATION,
                               lora_targets=spec.lora_targets)
        limit = self.settings.worker_memory_gb * memory.GB
        if not limit and self.settings.backend == "ray" and not self.settings.ray_address and not spec.gpu:
            import psutil

            limit = psutil.virtual_memory().total / spec.workers
        if limit and need.total > limit:
            raise ResourceExhausted(
                f"the job needs an estimated {need.describe()} per worker, more than the {limit / memory.GB:.2f} GB a "
                "worker has: lower batch_size or max_length, use lora, or freeze layers")

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
