"""A training job as a KubeRay RayJob (`TUNELOOP_TRAINER_BACKEND=rayjob`): a Ray cluster of its
own, created through the Kubernetes API for this one job and deleted after it, so GPUs are held
only while it trains.

The trainer creates the RayJob from a template (`RayJobSettings.template`, mounted by the chart:
the Ray pods with their image, storage settings and resources) with the job's entrypoint (the
same `tuneloop.trainer.driver` as the Ray Jobs backend) and the worker group its spec asks for
sized to its workers; KubeRay starts the cluster, submits the job and, with
shutdownAfterJobFinishes, deletes the cluster `ttlSecondsAfterFinished` after the end.

The trainer follows the resource by watching it (resumed from its resourceVersion when a watch
ends, relisted when that version is too old: 410 Gone) and maps its status to the job's state;
progress and the result come from the files the driver writes to the job's storage (the
cluster's logs go with the cluster). The RayJob carries the job id as a label: a restarted
trainer finds it and re-attaches, never creating a second one (a create that loses a race
gets 409 and attaches too). Cancel deletes the resource; `release()` stops following it and
leaves it running.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path

import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tuneloop.core.settings import RayJobSettings
from tuneloop.core.storage import join, open_fs
from tuneloop.trainer.raytrain import RunResult

log = logging.getLogger(__name__)
GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
JOB_LABEL = "tuneloop.dev/job"
_ENDED = ("Complete", "Failed", "ValidationFailed")
_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def resource_name(job_id: str) -> str:
    """The RayJob's name: a DNS label, short enough for KubeRay's derived cluster and pod names."""
    return ("tuneloop-" + re.sub(r"[^a-z0-9-]+", "-", job_id.lower())).strip("-")[:47].rstrip("-")


def api_client(settings: RayJobSettings) -> client.ApiClient:
    """The Kubernetes API: a kubeconfig when one is named, else the pod's service account, else
    $KUBECONFIG / ~/.kube/config."""
    if settings.kubeconfig is None:
        try:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        except config.ConfigException:
            pass
    return config.new_client_from_config(config_file=str(settings.kubeconfig) if settings.kubeconfig else None)


def namespace(settings: RayJobSettings) -> str:
    if settings.namespace:
        return settings.namespace
    return _NAMESPACE_FILE.read_text().strip() if _NAMESPACE_FILE.exists() else "default"


def load_template(settings: RayJobSettings) -> dict:
    """The RayJob template, checked for what every job's copy needs."""
    if settings.template is None:
        raise ValueError("the rayjob backend needs TUNELOOP_RAYJOB_TEMPLATE: a RayJob YAML with the Ray pods")
    template = yaml.safe_load(settings.template.read_text())
    groups = {g.get("groupName") for g in template.get("spec", {}).get("rayClusterSpec", {}).get("workerGroupSpecs", [])}
    if not {"cpu", "gpu"} <= groups:
        raise ValueError(f"{settings.template}: spec.rayClusterSpec.workerGroupSpecs needs groups named `cpu` and "
                         f"`gpu` (it has {sorted(g for g in groups if g)})")
    return template


def build_rayjob(template: dict, *, job_id: str, entrypoint: str, workers: int, use_gpu: bool,
                 settings: RayJobSettings) -> dict:
    """The RayJob of one training job: the template with this job's name, labels, entrypoint and
    worker count (in the `gpu` group when it trains on GPUs, else in `cpu`; the other has none)."""
    body = copy.deepcopy(template)
    spec, meta = body["spec"], body.setdefault("metadata", {})
    meta["name"] = resource_name(job_id)
    meta["labels"] = {**meta.get("labels", {}), JOB_LABEL: job_id, "app.kubernetes.io/managed-by": "tuneloop-trainer"}
    meta.pop("namespace", None)
    cluster = spec["rayClusterSpec"]
    for group in cluster["workerGroupSpecs"]:
        name = group["groupName"]
        if name not in ("cpu", "gpu"):
            continue
        count = workers if (name == "gpu") == use_gpu else 0
        limit = group.get("maxReplicas", 0)
        if count > limit:  # the template's ceiling is the operator's (the chart's ray.<group>Workers.maxReplicas)
            raise ValueError(f"the job asks for {count} {name} workers: the template's `{name}` group allows at most "
                             f"{limit} (the chart's ray.{name}Workers.maxReplicas)")
        group.update(replicas=count, minReplicas=count, maxReplicas=count)
    cluster["enableInTreeAutoscaling"] = False  # the job's size is known: no autoscaler to run
    if settings.auth:
        cluster["authOptions"] = {"mode": "token"}
    if settings.submission_mode == "SidecarMode":  # KubeRay requires it: the head pod is not restarted
        cluster["headGroupSpec"]["template"].setdefault("spec", {})["restartPolicy"] = "Never"
    spec.update(entrypoint=entrypoint, submissionMode=settings.submission_mode, shutdownAfterJobFinishes=True,
                ttlSecondsAfterFinished=settings.ttl_seconds, metadata={"tuneloop_job": job_id},
                runtimeEnvYAML="env_vars:\n  RAY_TRAIN_V2_ENABLED: '1'\n")
    if settings.active_deadline_seconds:
        spec["activeDeadlineSeconds"] = settings.active_deadline_seconds
    return body


class RayJobResource:
    """Create (or find) the RayJob of a training job, follow it, cancel it."""

    def __init__(self, api: client.CustomObjectsApi, *, namespace: str, job_id: str, body: Callable[[], dict],
                 storage_url: str, skip: int, on_progress: Callable[[dict], None], on_lines: Callable[[int], None],
                 watch_seconds: float = 15) -> None:
        self.api, self.namespace, self.job_id = api, namespace, job_id
        self.id = resource_name(job_id)
        self.seen, self.watch_seconds = skip, watch_seconds
        self._on_progress, self._on_lines = on_progress, on_lines
        self._said: set[str] = set()
        self._cancelled, self._released = threading.Event(), threading.Event()
        self._watch: watch.Watch | None = None
        self.fs, self.root = open_fs(join(storage_url, "driver"))
        self.attached = self._find() is not None
        if not self.attached:
            self._create(body())

    def _find(self) -> dict | None:
        found = self.api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                       label_selector=f"{JOB_LABEL}={self.job_id}")["items"]
        if found:
            self.id = found[0]["metadata"]["name"]
            log.info("re-attaching to RayJob %s/%s", self.namespace, self.id)
        return found[0] if found else None

    def _create(self, body: dict) -> None:
        try:
            self.api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.attached = True  # another trainer created it a moment ago
        log.info("created RayJob %s/%s for %s", self.namespace, self.id, self.job_id)

    def _get(self) -> dict:
        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.id)
        except ApiException as exc:
            if exc.status == 404:
                raise self._gone() from None
            raise

    def _gone(self) -> RuntimeError:
        self._deliver()
        if self._cancelled.is_set():
            return RuntimeError(f"RayJob {self.id} was deleted: the job was cancelled")
        return RuntimeError(f"RayJob {self.id} was deleted before it finished")

    def wait(self) -> RunResult:
        """Follow the RayJob until it ends: its result, or an error that says why it failed."""
        obj = self._get()
        while True:
            self._deliver()
            result = self._outcome(obj)
            if result is not None:
                return result
            if self._released.is_set():
                raise RuntimeError(f"stopped following RayJob {self.id}; it keeps running")
            obj = self._next(obj)

    def _next(self, obj: dict) -> dict:
        """The RayJob after its next change, or as it is when a watch of `watch_seconds` ends."""
        self._watch = watch.Watch()
        try:
            for event in self._watch.stream(
                    self.api.list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL,
                    field_selector=f"metadata.name={self.id}", resource_version=obj["metadata"]["resourceVersion"],
                    timeout_seconds=max(1, int(self.watch_seconds)), _request_timeout=self.watch_seconds + 30):
                if event["type"] == "DELETED":
                    raise self._gone()
                if event["type"] in ("ADDED", "MODIFIED"):
                    return event["object"]
        except ApiException as exc:
            if exc.status != 410:  # Gone: the version is too old to watch from; read it anew
                raise
            return self._get()
        finally:
            self._watch.stop()
        return obj

    def _outcome(self, obj: dict) -> RunResult | None:
        status = obj.get("status") or {}
        deployment, job = status.get("jobDeploymentStatus") or "", status.get("jobStatus") or ""
        if deployment not in _ENDED:
            if deployment != "Running" and deployment not in self._said:
                self._said.add(deployment)
                why = ": " + status["message"] if status.get("message") else ""
                self._on_progress({"type": "waiting",
                                   "message": f"RayJob {self.id} is {deployment or 'created'}{why}"})
            return None
        if job == "SUCCEEDED" and deployment == "Complete":
            result = self._read("result.json")
            if result is None:
                raise RuntimeError(f"RayJob {self.id} succeeded but its driver wrote no result")
            return RunResult(**result)
        failure = self._read("failure.json") or {}
        said = "; ".join(x for x in (status.get("reason"), status.get("message"), failure.get("error")) if x)
        raise RuntimeError(f"RayJob {self.id} ended {deployment} (Ray job {job or 'never ran'}): {said or 'no reason'}")

    def _read(self, name: str) -> dict | None:
        """A file the driver wrote, or None when it has not (one request: no separate exists)."""
        try:
            with self.fs.open(f"{self.root}/{name}", "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:  # still being written (a driver that writes in place)
            raise _Unfinished(name) from exc

    def _deliver(self) -> None:
        """Deliver the progress events the driver has written and this trainer has not recorded.
        The listing is the store's now: s3fs would otherwise answer from the listing it cached the
        first time, and never show an event written after it."""
        self.fs.invalidate_cache(f"{self.root}/events")
        try:
            names = sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(f"{self.root}/events", detail=False))
        except FileNotFoundError:  # no event yet
            names = []
        for name in [n for n in names if n.endswith(".json")][self.seen:]:
            try:
                event = self._read(f"events/{name}")
            except _Unfinished:
                return  # delivered on a later pass, once whole; the order is kept
            if event is not None:
                self._on_progress(event)
            self.seen += 1
            self._on_lines(self.seen)

    def cancel(self) -> None:
        self._cancelled.set()
        try:
            self.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.id,
                                                     propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise

    def release(self) -> None:
        self._released.set()
        if self._watch is not None:
            self._watch.stop()


class _Unfinished(Exception):
    """A driver's file that exists but does not parse yet."""
