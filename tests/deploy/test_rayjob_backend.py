"""The trainer's rayjob backend (issue 14), through the real `kubernetes` client against a local
RayJob API (kubefake), with the chart's own RayJob template (ci/rayjob-values.yaml).

What KubeRay would do is played by the test: it sets the RayJob's status, and writes what the
job's driver writes to the job's storage (events, then result.json or failure.json).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from deploytools import RAYJOB_VALUES, by_kind, container_env, deployment, helm_template
from kubefake import FakeKube
from kubernetes.client import CustomObjectsApi
from rayjob_api import check

from conftest import s3_client
from tuneloop.core.settings import RayJobSettings, TrainerSettings
from tuneloop.trainer import kuberay
from tuneloop.trainer.kuberay import JOB_LABEL, RayJobResource, build_rayjob, resource_name

NS = "ml"
RESULT = {"best_checkpoint": "s3://b/jobs/j/ray/checkpoint_000001", "best_metrics": {"val_f1_macro": 0.9},
          "last_metrics": {"epoch": 1}}


@pytest.fixture(scope="module")
def chart(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The RayJob template exactly as the chart mounts it into the trainer, and the trainer's
    TUNELOOP_RAYJOB_* settings as the chart sets them."""
    objects = helm_template("-f", str(RAYJOB_VALUES))
    (config,) = [c for c in by_kind(objects, "ConfigMap") if "rayjob.yaml" in c["data"]]
    path = tmp_path_factory.mktemp("rayjob") / "rayjob.yaml"
    path.write_text(config["data"]["rayjob.yaml"])
    env = container_env(deployment(objects, "trainer"))
    assert env["TUNELOOP_TRAINER_BACKEND"]["value"] == "rayjob"
    assert env["TUNELOOP_RAYJOB_TEMPLATE"]["value"] == "/etc/tuneloop/rayjob/rayjob.yaml"
    return path, {k: v["value"] for k, v in env.items() if k.startswith("TUNELOOP_RAYJOB_") and "TEMPLATE" not in k}


@pytest.fixture
def template(chart, monkeypatch) -> Path:
    path, env = chart
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return path


@pytest.fixture
def kube(tmp_path):
    fake = FakeKube(watch_events=1)  # every watch ends after one event: the backend must resume it
    yield fake
    fake.close()


def settings(kube: FakeKube, tmp_path: Path, template: Path, **extra) -> RayJobSettings:
    return RayJobSettings(template=template, kubeconfig=kube.kubeconfig(tmp_path / "kubeconfig"), namespace=NS,
                          watch_seconds=2, **extra)


class Trainer:
    """What the runner gives a RayJobResource, with what it received recorded."""

    def __init__(self, kube: FakeKube, tmp_path: Path, template: Path, *, job: str = "job-abc123", skip: int = 0,
                 gpu: bool = False, workers: int = 2, s3: tuple | None = None) -> None:
        self.events: list[dict] = []
        self.lines: list[int] = []
        self.s3 = s3  # (boto3 client, bucket): the job's storage is on S3, written by another process
        self.storage = f"s3://{s3[1]}/jobs/{job}" if s3 else str(tmp_path / "store" / "jobs" / job)
        rayjob = settings(kube, tmp_path, template)
        body = lambda: build_rayjob(kuberay.load_template(rayjob), job_id=job, entrypoint="python -m driver X",  # noqa: E731
                                    workers=workers, use_gpu=gpu, settings=rayjob)
        self.handle = RayJobResource(CustomObjectsApi(kuberay.api_client(rayjob)), namespace=NS, job_id=job,
                                     body=body, storage_url=self.storage, skip=skip, on_progress=self.events.append,
                                     on_lines=self.lines.append, watch_seconds=rayjob.watch_seconds)

    def driver_writes(self, name: str, payload: dict) -> None:
        if self.s3:
            client, bucket = self.s3
            key = f"{self.storage.removeprefix(f's3://{bucket}/')}/driver/{name}"
            client.put_object(Bucket=bucket, Key=key, Body=json.dumps(payload).encode())
            return
        path = Path(self.storage) / "driver" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload))


def test_the_rayjob_is_the_charts_template_sized_from_the_spec_and_valid_against_the_api(kube, tmp_path, template):
    trainer = Trainer(kube, tmp_path, template, gpu=True, workers=3)
    ((_, path, _),) = kube.calls("POST")
    assert path == f"/apis/ray.io/v1/namespaces/{NS}/rayjobs"
    (obj,) = kube.objects.values()
    assert check(obj) == []  # the fake refuses what the API would not take; checked again here
    spec, cluster = obj["spec"], obj["spec"]["rayClusterSpec"]
    assert obj["metadata"]["name"] == resource_name("job-abc123") == trainer.handle.id
    assert obj["metadata"]["labels"][JOB_LABEL] == "job-abc123"
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] == 30  # the chart's values
    assert spec["submissionMode"] == "SidecarMode" and spec["activeDeadlineSeconds"] == 86400
    assert cluster["headGroupSpec"]["template"]["spec"]["restartPolicy"] == "Never", "SidecarMode requires it"
    assert cluster["authOptions"] == {"mode": "token"} and cluster["enableInTreeAutoscaling"] is False
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    assert (groups["gpu"]["replicas"], groups["gpu"]["minReplicas"], groups["gpu"]["maxReplicas"]) == (3, 3, 3)
    assert groups["cpu"]["replicas"] == groups["cpu"]["maxReplicas"] == 0
    gpu_container = groups["gpu"]["template"]["spec"]["containers"][0]
    assert gpu_container["image"].endswith(":0.1.0-cuda") and gpu_container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["entrypoint"] == "python -m driver X"
    assert "RAY_TRAIN_V2_ENABLED" in yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]


def test_a_wrong_field_is_refused_as_the_api_server_would():
    bad = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "x"},
           "spec": {"entrypoint": "e", "shutdownAfterJobFinishes": "yes", "ttlSeconds": 5,
                    "submissionMode": "Sidecar", "rayClusterSpec": {"workerGroupSpecs": [{"groupName": "cpu",
                                                                                         "replicas": 1.5}]}}}
    problems = check(bad)
    assert "spec.shutdownAfterJobFinishes: want boolean, got 'yes'" in problems
    assert "spec.ttlSeconds: no such field in the RayJob API" in problems
    assert any("spec.submissionMode: 'Sidecar' is not one of" in p for p in problems)
    assert "spec.rayClusterSpec.workerGroupSpecs[0].replicas: want an int32, got 1.5" in problems


def operator(kube: FakeKube, trainer: Trainer, events: int, *, end: dict) -> threading.Thread:
    """KubeRay and the driver: the cluster comes up, the job runs and reports, then ends."""
    def play() -> None:  # each change once the trainer watches for it
        kube.caught_up()
        kube.operator(NS, trainer.handle.id, jobDeploymentStatus="Initializing", message="pods pending")
        kube.caught_up()
        kube.operator(NS, trainer.handle.id, jobDeploymentStatus="Running", jobStatus="RUNNING")
        for i in range(events):
            trainer.driver_writes(f"events/{i + 1:06d}.json", {"type": "progress", "step": i + 1})
        kube.caught_up()
        kube.operator(NS, trainer.handle.id, **end)
    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(60)
def test_it_follows_the_status_through_watches_that_end_and_returns_the_drivers_result(kube, tmp_path, template):
    trainer = Trainer(kube, tmp_path, template)
    trainer.driver_writes("result.json", RESULT)
    play = operator(kube, trainer, 3, end={"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"})
    result = trainer.handle.wait()
    play.join(10)
    assert result.best_checkpoint == RESULT["best_checkpoint"] and result.best_metrics == {"val_f1_macro": 0.9}
    assert [e for e in trainer.events if e["type"] == "progress"] == [{"type": "progress", "step": i} for i in (1, 2, 3)]
    waiting = [e["message"] for e in trainer.events if e["type"] == "waiting"]
    assert any("Initializing: pods pending" in m for m in waiting)
    assert trainer.lines[-1] == 3
    watches = [q for m, _, q in kube.calls("GET") if q.get("watch") == ["true"]]
    assert len(watches) >= 3, "each watch ended after one event and was resumed"
    versions = [int(q["resourceVersion"][0]) for q in watches]
    assert versions == sorted(versions) and len(set(versions)) == len(versions), versions
    assert all(q["fieldSelector"] == [f"metadata.name={trainer.handle.id}"] for q in watches)


@pytest.mark.timeout(60)
def test_on_s3_it_sees_what_the_driver_writes_after_it_first_looked(kube, tmp_path, template, s3_env, s3_endpoint):
    """The driver writes to S3 from another process while the trainer follows: a cached listing
    of the store must not hide the events and the result that came after the trainer's first look."""
    trainer = Trainer(kube, tmp_path, template, s3=(s3_client(s3_endpoint), s3_env))
    trainer.driver_writes("events/000001.json", {"type": "progress", "step": 1})

    def later() -> None:
        kube.caught_up()
        kube.operator(NS, trainer.handle.id, jobDeploymentStatus="Running", jobStatus="RUNNING")
        kube.caught_up()  # the trainer has listed the events by now, and seen no result
        for i in (2, 3):
            trainer.driver_writes(f"events/{i:06d}.json", {"type": "progress", "step": i})
        trainer.driver_writes("result.json", RESULT)
        kube.operator(NS, trainer.handle.id, jobDeploymentStatus="Complete", jobStatus="SUCCEEDED")

    play = threading.Thread(target=later, daemon=True)
    play.start()
    assert trainer.handle.wait().best_checkpoint == RESULT["best_checkpoint"]
    play.join(10)
    assert [e["step"] for e in trainer.events if e["type"] == "progress"] == [1, 2, 3]


@pytest.mark.timeout(60)
def test_a_restarted_trainer_reattaches_by_label_and_never_creates_a_second(kube, tmp_path, template):
    first = Trainer(kube, tmp_path, template)
    assert not first.handle.attached
    for i in range(2):
        first.driver_writes(f"events/{i + 1:06d}.json", {"type": "progress", "step": i + 1})
    again = Trainer(kube, tmp_path, template, skip=2)  # the trainer restarted, two events recorded
    assert again.handle.attached and len(kube.calls("POST")) == 1
    assert any(q.get("labelSelector") == [f"{JOB_LABEL}=job-abc123"] for _, _, q in kube.calls("GET"))
    again.driver_writes("result.json", RESULT)
    again.driver_writes("events/000003.json", {"type": "progress", "step": 3})
    play = operator(kube, again, 0, end={"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"})
    again.handle.wait()
    play.join(10)
    assert [e["step"] for e in again.events if e["type"] == "progress"] == [3], "only what was not recorded"


@pytest.mark.timeout(60)
def test_a_watch_from_a_version_too_old_410_gone_reads_the_rayjob_anew(kube, tmp_path, template):
    trainer = Trainer(kube, tmp_path, template)
    kube.compact()  # the version the trainer starts watching from is gone from the history
    trainer.driver_writes("result.json", RESULT)
    kube.operator(NS, trainer.handle.id, jobDeploymentStatus="Complete", jobStatus="SUCCEEDED")
    kube.compact()
    assert trainer.handle.wait().best_checkpoint == RESULT["best_checkpoint"]


@pytest.mark.timeout(60)
def test_a_failed_job_says_why_from_kuberay_and_from_the_driver(kube, tmp_path, template):
    trainer = Trainer(kube, tmp_path, template)
    trainer.driver_writes("failure.json", {"error": "ValueError: the dataset has no train split"})
    failed_status = {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed",
                     "message": "Job entrypoint command failed with exit code 1"}
    play = operator(kube, trainer, 1, end=failed_status)
    with pytest.raises(RuntimeError) as failed:
        trainer.handle.wait()
    play.join(10)
    message = str(failed.value)
    assert "ended Failed (Ray job FAILED)" in message and "AppFailed" in message
    assert "exit code 1" in message and "the dataset has no train split" in message


@pytest.mark.timeout(60)
def test_cancel_deletes_the_rayjob_and_the_wait_ends_cancelled(kube, tmp_path, template):
    trainer = Trainer(kube, tmp_path, template)
    kube.operator(NS, trainer.handle.id, jobDeploymentStatus="Running", jobStatus="RUNNING")
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            trainer.handle.wait()
        except RuntimeError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    trainer.handle.cancel()
    waiter.join(30)
    assert not waiter.is_alive()
    assert [p for m, p, _ in kube.requests if m == "DELETE"] == [
        f"/apis/ray.io/v1/namespaces/{NS}/rayjobs/{trainer.handle.id}"]
    assert kube.objects == {} and "cancelled" in str(outcome[0])
    trainer.handle.cancel()  # again: already gone is fine


def test_a_job_larger_than_the_charts_groups_or_a_template_without_them_is_refused(tmp_path, template, monkeypatch):
    rayjob = RayJobSettings(template=template)
    with pytest.raises(ValueError, match="asks for 5 gpu workers: the template.s `gpu` group allows at most 4"):
        build_rayjob(kuberay.load_template(rayjob), job_id="j", entrypoint="e", workers=5, use_gpu=True,
                     settings=rayjob)
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump({"apiVersion": "ray.io/v1", "kind": "RayJob", "spec": {"rayClusterSpec": {
        "headGroupSpec": {"template": {}}, "workerGroupSpecs": [{"groupName": "workers"}]}}}))
    with pytest.raises(ValueError, match="needs groups named `cpu` and `gpu`"):
        kuberay.load_template(RayJobSettings(template=bare))
    with pytest.raises(ValueError, match="TUNELOOP_RAYJOB_TEMPLATE"):
        kuberay.load_template(RayJobSettings())
    monkeypatch.setenv("TUNELOOP_TRAINER_BACKEND", "rayjob")
    monkeypatch.setenv("TUNELOOP_RAY_ADDRESS", "http://head:8265")
    with pytest.raises(ValueError, match="unset TUNELOOP_RAY_ADDRESS"):
        TrainerSettings()


def test_the_runner_submits_the_driver_with_the_jobs_config_as_the_rayjobs_entrypoint(kube, tmp_path, template):
    """Runner._rayjob, as the trainer calls it with TUNELOOP_TRAINER_BACKEND=rayjob: the entrypoint
    is the image's Python running the driver with the job's whole config."""
    from types import SimpleNamespace

    from tuneloop.trainer.driver import decode
    from tuneloop.trainer.runner import Runner

    runner = SimpleNamespace(rayjob_settings=settings(kube, tmp_path, template),
                             settings=SimpleNamespace(ray_python="/opt/venv/bin/python"))
    args = {"name": "job-9", "workers": 2, "use_gpu": False, "spec": {"epochs": 1}, "storage_url": "s3://b/jobs/job-9"}
    handle = Runner._rayjob(runner, "job-9", args, str(tmp_path / "store"),
                            {"skip": 0, "on_progress": print, "on_lines": print})
    (obj,) = kube.objects.values()
    python, flag, module, encoded = obj["spec"]["entrypoint"].split()
    assert (python, flag, module) == ("/opt/venv/bin/python", "-m", "tuneloop.trainer.driver")
    assert decode(encoded) == args and handle.id == obj["metadata"]["name"]
    groups = {g["groupName"]: g["replicas"] for g in obj["spec"]["rayClusterSpec"]["workerGroupSpecs"]}
    assert groups == {"cpu": 2, "gpu": 0}


@pytest.mark.timeout(60)
def test_an_event_file_still_being_written_is_delivered_once_whole(kube, tmp_path, template):
    """Seen in CI: the trainer listed an event file the driver had created but not yet filled, and
    failed the job on its empty JSON. It now waits for it, keeping the order."""
    trainer = Trainer(kube, tmp_path, template)
    events = Path(trainer.storage) / "driver" / "events"
    events.mkdir(parents=True)
    (events / "000001.json").write_text("")  # created, not written yet
    trainer.handle._deliver()
    assert not [e for e in trainer.events if e["type"] == "progress"]
    for step in (1, 2):
        trainer.driver_writes(f"events/{step:06d}.json", {"type": "progress", "step": step})
    trainer.handle._deliver()
    assert [e["step"] for e in trainer.events if e["type"] == "progress"] == [1, 2]
