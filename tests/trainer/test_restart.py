"""A trainer killed mid-job resumes the job from its last checkpoint when it comes back
(not from step 0: the failure KubeRay users report in kuberay#2155)."""

from __future__ import annotations

import json
import os
import signal
import time

from conftest import free_port, seed_bbc_and_minilm, start_up, stop_process, wait_serving
from tuneloop.client import Client
from tuneloop.client.trainer import state_name


def test_killed_trainer_resumes_the_job_from_its_checkpoint(tmp_path):
    port = free_port()
    proc = start_up(tmp_path, port)
    try:
        with Client(f"127.0.0.1:{port}", timeout=600) as client:
            wait_serving(client, proc)
            seed_bbc_and_minilm(client, tmp_path, every=6)
            job = client.trainer.submit(dataset="bbc", base_model="minilm", model="clf", epochs=1,
                                        max_train_samples=96, max_length=64, freeze_layers=4, batch_size=16,
                                        checkpoint_every_steps=2, log_every=1)
            deadline = time.monotonic() + 300
            for msg in client.trainer.watch(job.id, timeout=300):
                if msg.event.type == "checkpoint_persisted":
                    break
                assert time.monotonic() < deadline
        os.killpg(proc.pid, signal.SIGKILL)  # the trainer and everything it started, at once
        proc.wait(timeout=60)

        proc = start_up(tmp_path, port)
        with Client(f"127.0.0.1:{port}", timeout=600) as client:
            wait_serving(client, proc)
            done = client.trainer.wait(job.id, timeout=600)
            assert state_name(done.state) == "SUCCEEDED", done.error
            assert done.attempts == 2 and done.model == "clf@1"
            events = [(m.event.type, json.loads(m.event.data_json)) for m in client.trainer.watch(job.id, follow=False)]
            resumed = [d for t, d in events if t == "resumed"]
            assert resumed and resumed[0]["step"] >= 2, "the job started over instead of resuming"
            states = [d["state"] for t, d in events if t == "state"]
            assert states == ["QUEUED", "RUNNING", "QUEUED", "RUNNING", "SUCCEEDED"]
    finally:
        stop_process(proc, group=True)
