"""Training on a two-node Ray cluster with no shared disk and S3 storage (see cluster.py).

Run only inside the network namespace that `test_two_nodes.py` creates: pytest collects
`test_*.py` files, so this one is never collected on its own. The scenarios share one
cluster and run in order: a 2-worker job through the Ray Jobs API; a worker node killed
mid-training (the job resumes from its S3 checkpoint); the trainer killed mid-job (it
re-attaches to the same Ray job); a cancel (it stops the Ray job).
"""

from __future__ import annotations

import json
import os
import time

import pytest

from cluster import BUCKET, Cluster
from conftest import seed_bbc_and_minilm, wait_serving, wait_until
from tuneloop.client import Client
from tuneloop.client.trainer import state_name

pytestmark = pytest.mark.skipif(os.environ.get("TUNELOOP_IN_NETNS") != "1", reason="run by test_two_nodes.py")

SPEC = dict(epochs=1, max_train_samples=64, max_length=48, freeze_layers=5, batch_size=8, workers=2, log_every=1,
            learning_rate=1e-4)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    c = Cluster(root)
    try:
        c.start_storage()
        up = c.start_tuneloop()  # before the head: the trainer must wait for the cluster
        client = Client(f"127.0.0.1:{c.port}", timeout=600)
        wait_serving(client, up)
        seed_bbc_and_minilm(client, root, every=10)
        c.client = client
        c.start_head()
        c.start_worker_node()
        yield c
        client.close()
    finally:
        c.stop()


def _events(client, job_id: str) -> list[tuple[str, dict]]:
    return [(m.event.type, json.loads(m.event.data_json)) for m in client.trainer.watch(job_id, follow=False)]


def _submissions(cluster, job_id: str) -> list:
    return [j for j in cluster.jobs_client().list_jobs() if (j.metadata or {}).get("tuneloop_job") == job_id]


def _s3_keys(cluster, prefix: str) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=cluster.s3, key="testing", secret="testing")
    return list(fs.find(f"{BUCKET}/{prefix}"))


def _wait_event(client, job_id: str, kind: str, *, timeout: float) -> dict:
    found: list[dict] = []
    wait_until(f"a {kind} event of {job_id}",
               lambda: found.extend(d for t, d in _events(client, job_id) if t == kind) or found, timeout=timeout,
               every=1)
    return found[0]


def test_a_two_worker_job_runs_as_one_ray_job_and_registers_its_model_once(cluster, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    client = cluster.client
    job = client.trainer.submit(dataset="bbc", base_model="minilm", model="news", **SPEC)
    done = client.trainer.wait(job.id, timeout=900)
    assert state_name(done.state) == "SUCCEEDED", done.error
    assert [s.submission_id for s in _submissions(cluster, job.id)] == [f"tuneloop-{job.id}"]
    assert client.trainer.get(job.id).tensorboard.startswith(f"s3://{BUCKET}/artifacts/trainer/jobs/{job.id}")
    keys = _s3_keys(cluster, f"artifacts/trainer/jobs/{job.id}")
    assert any("/ray/" in k and k.endswith("model.safetensors") for k in keys), keys
    assert sum("tfevents" in k for k in keys) == 1, "rank 0 alone writes TensorBoard files"
    assert [v.version for v in client.registry.search(model="news")] == [1]
    client.registry.download("news@1", tmp_path / "model")
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    with torch.inference_mode():
        logits = model(**tokenizer(["The striker scored twice in the cup final"], return_tensors="pt")).logits
    # BBC's labels as tuneloop.bbc spells them ("sports": this set said "sport", which held only while
    # short runs never predicted that class; with issue 17's faster head they do)
    assert model.config.id2label[int(logits.argmax())] in {"business", "entertainment", "politics", "sports", "tech"}


def test_a_killed_worker_node_resumes_the_job_from_its_s3_checkpoint(cluster):
    client = cluster.client
    job = client.trainer.submit(dataset="bbc", base_model="minilm", model="resumed",
                                **{**SPEC, "checkpoint_every_steps": 2, "max_train_samples": 96})
    persisted = _wait_event(client, job.id, "checkpoint_persisted", timeout=600)
    cluster.kill_worker_node()
    time.sleep(3)
    cluster.start_worker_node()
    done = client.trainer.wait(job.id, timeout=900)
    assert state_name(done.state) == "SUCCEEDED", done.error
    events = _events(client, job.id)
    resumed = [d for t, d in events if t == "resumed"]
    assert resumed, "the job did not resume from a checkpoint"
    saved = [d["step"] for t, d in events if t == "checkpoint_persisted"]
    assert resumed[0]["step"] >= persisted["step"] and resumed[0]["step"] in saved
    assert [v.version for v in client.registry.search(model="resumed")] == [1]
    assert len(_submissions(cluster, job.id)) == 1


def test_a_restarted_trainer_reattaches_to_the_same_ray_job(cluster):
    client = cluster.client
    job = client.trainer.submit(dataset="bbc", base_model="minilm", model="reattached", **SPEC)
    _wait_event(client, job.id, "step", timeout=600)
    cluster.kill_tuneloop()
    up = cluster.start_tuneloop()
    client = cluster.client = Client(f"127.0.0.1:{cluster.port}", timeout=600)
    wait_serving(client, up)
    done = client.trainer.wait(job.id, timeout=900)
    assert state_name(done.state) == "SUCCEEDED", done.error
    assert len(_submissions(cluster, job.id)) == 1, "the restarted trainer submitted the job again"
    steps = [d["step"] for t, d in _events(client, job.id) if t == "step"]
    assert steps == sorted(set(steps)), "progress lines were recorded twice after re-attaching"
    assert [v.version for v in client.registry.search(model="reattached")] == [1]


def test_cancel_stops_the_ray_job_and_registers_nothing(cluster):
    client = cluster.client
    job = client.trainer.submit(dataset="bbc", base_model="minilm", model="cancelled",
                                **{**SPEC, "epochs": 20, "max_train_samples": 0})
    _wait_event(client, job.id, "step", timeout=600)
    client.trainer.cancel(job.id)
    done = client.trainer.wait(job.id, timeout=180)
    assert state_name(done.state) == "CANCELLED", done.error
    (submission,) = _submissions(cluster, job.id)
    assert str(getattr(submission.status, "value", submission.status)) == "STOPPED"
    assert client.registry.search(model="cancelled") == []
