"""Executes queued training jobs, at most `max_running` at a time, each on its own thread.

A job: resolve its inputs, run the TorchTrainer (on the local Ray, see raytrain; as a Ray job
on the configured cluster, see rayjobs; or as a KubeRay RayJob of its own, see kuberay),
register the best checkpoint from storage with its lineage, end SUCCEEDED. Any error ends it
FAILED with the message; a cancel ends it CANCELLED and registers nothing. When the service
stops, running jobs are left RUNNING on purpose: the next start requeues them; a local run
resumes from its last checkpoint, a Ray job or RayJob (which kept running) is re-attached to.
Registering is idempotent (a version tagged with the job id is reused), so a job that
resumes after the upload but before its final state never registers twice.
"""

from __future__ import annotations

import functools
import json
import logging
import threading

from tuneloop.client.registry import Source
from tuneloop.core.settings import RayJobSettings, TrainerSettings
from tuneloop.core.storage import check_reachable, join, open_fs
from tuneloop.ml import board, collapse, space
from tuneloop.ml.inputs import Inputs
from tuneloop.ml.lora import ADAPTER_DIR
from tuneloop.ml.spec import CLASSIFICATION, TrainSpec
from tuneloop.trainer import kuberay, metrics
from tuneloop.trainer.driver import arguments, encode
from tuneloop.trainer.kuberay import RayJobResource
from tuneloop.trainer.loop import LoopConfig
from tuneloop.trainer.publish import fold_trial, publish_run, publish_trials
from tuneloop.trainer.rayjobs import RayJobHandle
from tuneloop.trainer.raytrain import RunHandle, ensure_ray, retrying
from tuneloop.trainer.records import Job, State
from tuneloop.trainer.store import JobStore
from tuneloop.v1 import registry_pb2

log = logging.getLogger(__name__)


# what a finished job records of its best checkpoint (classification's, then generation's)
VALIDATION_METRICS = ("val_f1_macro", "val_accuracy", "val_loss", "val_perplexity", "train_loss")


class Runner:
    def __init__(self, jobs: JobStore, inputs: Inputs, settings: TrainerSettings, changed: threading.Condition,
                 storage_url: str) -> None:
        self.jobs = jobs
        self.storage_url = storage_url
        self.inputs = inputs
        self.settings = settings
        self.changed = changed
        self._stop = threading.Event()
        self._handles: dict[str, RunHandle | RayJobHandle | RayJobResource] = {}
        self.rayjob_settings: RayJobSettings | None = None  # the rayjob backend's; None: from the environment
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._dispatcher: threading.Thread | None = None

    def start(self) -> None:
        requeued = self.jobs.requeue_running()
        if requeued:
            log.info("requeued %s left running by a previous trainer", ", ".join(requeued))
        metrics.publish_states(self.jobs.count_by_state())
        self._dispatcher = threading.Thread(target=self._dispatch, name="trainer-dispatch", daemon=True)
        self._dispatcher.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            handles = list(self._handles.values())
        for handle in handles:
            handle.release()
        self.wake()
        for thread in list(self._threads.values()):
            thread.join(timeout=30)

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            handle = self._handles.get(job_id)
        if handle is not None:
            handle.cancel()

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
                free = self.settings.max_running - len(self._threads)
            for job in self.jobs.queued()[:max(free, 0)]:
                if self.jobs.transition(job.id, State.RUNNING, allowed=(State.QUEUED,)):
                    thread = threading.Thread(target=self._execute, args=(job.id,), name=job.id, daemon=True)
                    with self._lock:
                        self._threads[job.id] = thread
                    thread.start()
            self._publish()
            with self.changed:
                self.changed.wait(self.settings.poll_seconds)

    def _publish(self) -> None:
        metrics.publish_states(self.jobs.count_by_state())

    def _execute(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        try:
            model = self._train(job)
        except BaseException as exc:  # noqa: BLE001 - every outcome is recorded below
            if self._stop.is_set():
                log.info("%s left RUNNING: the trainer is stopping and will resume it", job_id)
                return
            if self.jobs.get(job_id).cancel_requested:
                self.jobs.transition(job_id, State.CANCELLED, allowed=(State.RUNNING,))
            else:
                log.exception("%s failed", job_id)
                message = f"{type(exc).__name__}: {exc}" if not getattr(exc, "message", None) else exc.message
                self.jobs.transition(job_id, State.FAILED, allowed=(State.RUNNING,), error=message[:4000])
        else:
            self.jobs.transition(job_id, State.SUCCEEDED, allowed=(State.RUNNING,), result_model=model)
        finally:
            with self._lock:
                self._handles.pop(job_id, None)
            self._publish()
            self.wake()

    def _train(self, job: Job) -> str:
        spec = TrainSpec(**job.spec)
        dataset = self.inputs.dataset(job.dataset)
        base = self.inputs.model(job.base_model)
        storage = join(self.storage_url, "jobs", job.id)
        check_reachable(storage)
        # a sweep's trials each write their own run under trials/<id>/: TensorBoard reads them all from there
        self.jobs.update(job.id, tensorboard=join(storage, "trials" if job.sweep else "tensorboard"))
        config = LoopConfig(spec=spec, labels=sorted(dataset.labels), task=spec.task or CLASSIFICATION,
                            dataset=job.dataset, base_model=job.base_model,
                            services=self._services(), storage_url=storage, threads=self.settings.threads_per_worker)
        handle = self._start(job, config)
        with self._lock:
            self._handles[job.id] = handle
        if self.jobs.get(job.id).cancel_requested:
            handle.cancel()
        if self._stop.is_set():
            handle.release()
        result = handle.wait()
        fixed = spec  # a sweep's options for every trial: the job's, with its space's constants
        if job.sweep:
            self.jobs.update(job.id, trials=result.trials)
            fixed = space.apply(spec, space.parse(job.sweep["space"], spec).constants())
            if result.best_checkpoint is not None:  # the winner's hyperparameters over them
                spec = space.apply(fixed, {k: v for k, v in result.best_trial["config"].items()
                                           if k in space.TUNABLE})
        if result.best_checkpoint is None:
            raise RuntimeError("training ended without a validated checkpoint")
        best = result.best_metrics
        summary = {k: float(best[k]) for k in VALIDATION_METRICS if k in best}
        for rate in ("samples_per_second", "tokens_per_second"):
            summary[rate] = float(result.last_metrics.get(rate, 0.0))
        summary["epochs"] = float(result.last_metrics.get("epoch", 0) + 1)
        warnings = collapse.warnings(best, config.labels)
        self.jobs.update(job.id, metrics=summary, warnings=warnings)
        if warnings:
            self._progress(job.id, {"type": "warning", "warnings": warnings})
        version = self._register(job, spec, join(result.best_checkpoint, "model"), dataset, base, summary, warnings,
                                 trial=result.best_trial.get("trial", ""))
        ref = f"{version.model}@{version.version}"
        if board.TAG not in version.tags:  # once: a retried job finds the tag set
            trial_board = join(storage, "trials", result.best_trial["trial"], "tensorboard") if job.sweep else ""
            names = {"dataset": f"{dataset.dataset}@{dataset.version}", "base": f"{base.model}@{base.version}"}
            url = publish_run(self.storage_url, trial_board or join(storage, "tensorboard"), spec=spec, version=ref,
                              job_id=job.id, summary=summary, warnings=warnings, **names)
            if job.sweep:
                publish_trials(self.storage_url, storage, fixed, spec.model, job.id, result.trials, **names)
            self.inputs.client().registry.set_tags(ref, {board.TAG: url})
        return ref

    def _services(self) -> dict:
        """How workers reach the services: the trainer's own client settings (or the address set
        for workers). The token is left out on a remote cluster, whose nodes have their own."""
        settings = self.inputs.client().settings
        if self.settings.worker_services_address:
            settings = settings.model_copy(update={"address": self.settings.worker_services_address})
        remote = self.settings.ray_address or self.settings.backend == "rayjob"
        exclude = {"tls_ca_file"} | ({"auth_token"} if remote else set())
        return settings.model_dump(mode="json", exclude_none=True, exclude=exclude)

    def _start(self, job: Job, config: LoopConfig):
        """The run's handle: a RayJob of its own, a Ray job on the configured cluster, else a task
        on the local Ray."""
        spec, cancelled = config.spec, lambda: self._stop.is_set() or self.jobs.get(job.id).cancel_requested
        run = {"name": job.id, "workers": spec.workers, "use_gpu": spec.gpu, "max_failures": self.settings.max_failures}
        address = self.settings.ray_address
        if self.settings.backend == "ray" and not address:
            ensure_ray(timeout=self.settings.ray_connect_seconds, give_up=cancelled)
            if cancelled():
                raise RuntimeError("cancelled before training started")
            return RunHandle(config, on_progress=lambda event: self._progress(job.id, event), sweep=job.sweep, **run)
        # on a remote cluster the driver gets the loop's config as arguments (the same for both backends)
        args = arguments(config, run | ({"sweep": job.sweep} if job.sweep else {}))
        follow = {"skip": job.ray_events, "on_progress": lambda event: self._progress(job.id, event),
                  "on_lines": lambda n: self.jobs.update(job.id, ray_events=n)}
        handle: RayJobHandle | RayJobResource
        if self.settings.backend == "rayjob":
            handle = self._rayjob(job.id, args, config.storage_url, follow)
        else:
            from ray.job_submission import JobSubmissionClient

            client = retrying(lambda: JobSubmissionClient(address), address,
                              timeout=self.settings.ray_connect_seconds, give_up=cancelled)
            handle = RayJobHandle(client, job_id=job.id, args=args, python=self.settings.ray_python, **follow)
        self.jobs.update(job.id, ray_submission=handle.id)
        return handle

    def _rayjob(self, job_id: str, args: dict, storage_url: str, follow: dict) -> RayJobResource:
        from kubernetes.client import CustomObjectsApi

        rayjob = self.rayjob_settings or RayJobSettings()
        template = kuberay.load_template(rayjob)
        entrypoint = f"{self.settings.ray_python} -m tuneloop.trainer.driver {encode(args)}"
        body = functools.partial(kuberay.build_rayjob, template, job_id=job_id, entrypoint=entrypoint,
                                 workers=args["workers"], use_gpu=args["use_gpu"], settings=rayjob)
        return RayJobResource(CustomObjectsApi(kuberay.api_client(rayjob)), namespace=kuberay.namespace(rayjob),
                              job_id=job_id, body=body, storage_url=storage_url, watch_seconds=rayjob.watch_seconds,
                              **follow)

    def _progress(self, job_id: str, event: dict) -> None:
        metrics.observe(job_id, event)
        self.jobs.add_event(job_id, event.get("type", "progress"), event)
        if str(event.get("type", "")).startswith("trial_"):  # a sweep's trials, as they stand now
            job = self.jobs.get(job_id)
            self.jobs.update(job_id, trials=fold_trial(list(job.trials), event))
        self.wake()

    def _register(self, job: Job, spec: TrainSpec, model_url: str, dataset, base, summary: dict,
                  warnings: list[str], trial: str = ""):
        """Register the checkpoint's model files, streamed from storage (the trainer's disk never
        holds them); once only: a version tagged with this job is the one registered before."""
        registry = self.inputs.client().registry
        done = registry.search(model=spec.model, tags={"job": job.id}, limit=1)
        if done:
            return done[0]
        metrics_out = {k: v for k, v in summary.items() if k.startswith("val_") or k == "train_loss"}
        fs, root = open_fs(model_url)
        # relative paths of the files only: pyarrow leaves empty "folder/" marker objects on S3
        found = {path.rstrip("/")[len(root) + 1:]: (path, info) for path, info in fs.find(root, detail=True).items()
                 if info.get("type") == "file" and not path.endswith("/")}
        config = spec.model_dump()
        if job.sweep:  # the lineage of a sweep's best: the sweep (its job id is the lineage's job) and the trial
            config["sweep"] = {"job": job.id, "trial": trial, **job.sweep}
        if (adapter := found.get(f"{ADAPTER_DIR}/adapter_config.json")) is not None:  # the LoRA adapter's config
            with fs.open(adapter[0], "rb") as fh:
                config["adapter"] = json.loads(fh.read())
        lineage = registry_pb2.Lineage(
            base_model=f"{base.model}@{base.version}", dataset=f"{dataset.dataset}@{dataset.version}",
            config_json=json.dumps(config, sort_keys=True), job=job.id,
            parent_version=base.version if base.model == spec.model else 0)
        sources = [Source(rel, int(info["size"]), functools.partial(fs.open, path, "rb"))
                   for rel, (path, info) in sorted(found.items()) if rel]
        if not sources:
            raise RuntimeError(f"the checkpoint at {model_url} holds no model files")
        return registry.upload_files(sources, model=spec.model, kind="fine-tuned", create_model=True,
                                   tags={"job": job.id, "dataset": dataset.dataset, "task": spec.task or "",
                                         **({"sweep": job.id, "trial": trial} if job.sweep else {})},
                                   metrics=metrics_out,
                                   lineage=lineage,
                                   description=" ".join([f"fine-tuned by {'sweep ' if job.sweep else ''}{job.id}"
                                                         + (f" (trial {trial})." if trial else "."), *warnings]))
