"""The trainer on a Ray cluster of its own, reached through Ray Client (`ray://`), as the
Helm chart wires it to a KubeRay head: a real `ray start --head` on loopback, a real
`tuneloop up` pointed at it, a real training job. The head starts after the job was
submitted, so the trainer must retry the connection; the job must then succeed and run
there: the services' process tree starts no Ray of its own.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from conftest import child_env, free_port, seed_bbc_and_minilm, start_up, stop_process, wait_serving, wait_until
from tuneloop.client import Client
from tuneloop.client.trainer import state_name

BIN = Path(sys.executable).parent


@pytest.mark.timeout(900)
def test_a_job_trains_on_a_separate_ray_cluster_through_ray_client(tmp_path):
    """The head starts only after the job was submitted (a fresh `helm install`: the trainer
    pod is often ready before the KubeRay head), so the job must wait for the cluster."""
    ray_dir = Path(tempfile.mkdtemp(prefix="rh-", dir="/tmp"))  # Ray's socket paths must stay short
    gcs, client_port, port = free_port(), free_port(), free_port()
    env = child_env(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    up_log = tmp_path / "up.log"
    up = head = None
    try:
        up = start_up(tmp_path / "state", port, log=up_log,
                      env={**env, "TUNELOOP_RAY_ADDRESS": f"ray://127.0.0.1:{client_port}"})
        with Client(f"127.0.0.1:{port}", timeout=600) as client:
            wait_serving(client, up)
            seed_bbc_and_minilm(client, tmp_path, every=10)
            job = client.trainer.submit(dataset="bbc", base_model="minilm", model="news", epochs=1,
                                        max_train_samples=64, max_length=48, freeze_layers=5, batch_size=16)
            wait_until("the trainer to report the cluster unreachable",
                       lambda: "is not reachable" in up_log.read_text(errors="replace"), timeout=180, every=1)
            assert state_name(client.trainer.get(job.id).state) == "RUNNING"
            head = subprocess.Popen(
                [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
                 f"--ray-client-server-port={client_port}", "--include-dashboard=false", "--num-cpus=2",
                 f"--temp-dir={ray_dir}", "--disable-usage-stats"],
                env=env, stdout=(tmp_path / "head.log").open("wb"), stderr=subprocess.STDOUT,
                start_new_session=True)
            job = client.trainer.wait(job.id, timeout=600)
            assert state_name(job.state) == "SUCCEEDED", f"{job.error}\n{_ray_logs(ray_dir)}"
            assert client.registry.get_version(job.model).lineage.job == job.id
            local_ray = [p.name() for p in psutil.Process(up.pid).children(recursive=True)
                         if p.name() in ("raylet", "gcs_server")]
            assert local_ray == [], "the services started a Ray of their own instead of using the cluster"
    finally:
        if up is not None:
            stop_process(up, group=True)
        if head is not None:
            stop_process(head, group=True)
        logs = ray_dir / "session_latest" / "logs"
        if logs.is_dir():  # kept under pytest's tmp_path for a failure's post-mortem
            shutil.copytree(logs, tmp_path / "ray-logs", dirs_exist_ok=True)
        shutil.rmtree(ray_dir, ignore_errors=True)


def _ray_logs(ray_dir: Path) -> str:
    """The Ray Client server's own logs, for a failure message."""
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                     for p in sorted(ray_dir.glob("session_latest/logs/ray_client_server*")))


@pytest.mark.timeout(300)
def test_a_job_waiting_for_an_unreachable_cluster_is_cancellable_and_fails_after_the_connect_window(tmp_path):
    """Nothing listens at the Ray address. A cancelled waiting job is CANCELLED at once (not
    after the connect window); an uncancelled one FAILS once the window is spent, naming why."""
    port, nowhere = free_port(), free_port()
    up_log = tmp_path / "up.log"
    env = child_env(RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S="1", RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S="1",
                    TUNELOOP_RAY_ADDRESS=f"ray://127.0.0.1:{nowhere}", TUNELOOP_TRAINER_RAY_CONNECT_SECONDS="40")
    up = start_up(tmp_path / "state", port, env=env, log=up_log)
    try:
        with Client(f"127.0.0.1:{port}", timeout=120) as client:
            wait_serving(client, up)
            seed_bbc_and_minilm(client, tmp_path, every=20)
            spec = dict(dataset="bbc", base_model="minilm", model="news", epochs=1, max_train_samples=32)
            waiting = client.trainer.submit(**spec)
            wait_until("the trainer to report the cluster unreachable",
                       lambda: "is not reachable" in up_log.read_text(errors="replace"), timeout=60, every=0.5)
            client.trainer.cancel(waiting.id)
            started = time.monotonic()
            assert state_name(client.trainer.wait(waiting.id, timeout=60).state) == "CANCELLED"
            assert time.monotonic() - started < 15, "the cancel waited for the connect window"

            failing = client.trainer.submit(**spec)
            started = time.monotonic()
            done = client.trainer.wait(failing.id, timeout=150)
            assert state_name(done.state) == "FAILED"
            assert "ConnectionError" in done.error and "connection timeout" in done.error, done.error
            assert 25 < time.monotonic() - started < 110, "the job did not keep retrying for its connect window"
    finally:
        stop_process(up, group=True)
