"""Benchmark: seconds from submitting a training job to its first training step, through the
Ray Jobs API on a separate Ray cluster against the embedded local Ray, in the same run.

Each path is a real `tuneloop up` with BBC (every 20th article) and MiniLM loaded; the same
tiny job (1 worker, 32 examples, length 32) is submitted twice: the first pays one-off
costs (the local Ray's start; the cluster's first driver and worker processes), the second
shows the steady cost. The cluster is `ray start --head` on loopback with its dashboard
(the Jobs API); the time to start it is not counted, as a cluster runs before jobs come.

    python bench/submit_latency.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import child_env, free_port, seed_bbc_and_minilm, start_up, stop_process, wait_serving  # noqa: E402

BIN = Path(sys.executable).parent
JOB = dict(dataset="bbc", base_model="minilm", epochs=1, max_train_samples=32, max_length=32, freeze_layers=5,
           batch_size=8, log_every=1)


def first_steps(workdir: Path, env: dict) -> list[float]:
    """Submit-to-first-step seconds of two jobs in a row on a fresh `tuneloop up`."""
    from tuneloop.client import Client
    from tuneloop.client.trainer import state_name

    port = free_port()
    up = start_up(workdir / "state", port, env=env, log=workdir / "up.log")
    seconds = []
    try:
        with Client(f"127.0.0.1:{port}", timeout=600) as client:
            wait_serving(client, up)
            seed_bbc_and_minilm(client, workdir, every=20)
            for i in range(2):
                started = time.perf_counter()
                job = client.trainer.submit(model=f"m{i}", **JOB)
                for message in client.trainer.watch(job.id):
                    if message.event.type == "step":
                        seconds.append(time.perf_counter() - started)
                        break
                done = client.trainer.wait(job.id, timeout=600)
                assert state_name(done.state) == "SUCCEEDED", done.error
    finally:
        stop_process(up, group=True)
    return seconds


def main() -> None:
    import os

    os.environ["RAY_AUTH_MODE"] = "disabled"  # read once, when Ray is imported
    from ray.job_submission import JobSubmissionClient

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import wait_until

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "local").mkdir()
        local = first_steps(root / "local", child_env())
        ray_tmp = Path(tempfile.mkdtemp(prefix="rb-", dir="/tmp"))  # Ray's socket paths must stay short
        gcs, dashboard = free_port(), free_port()
        env = child_env(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")  # loopback only; auth is not measured
        head = subprocess.Popen([str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                                 f"--port={gcs}", "--num-cpus=2", "--include-dashboard=true",
                                 "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
                                 f"--temp-dir={ray_tmp}", "--disable-usage-stats"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            address = f"http://127.0.0.1:{dashboard}"
            wait_until("the Jobs API", lambda: JobSubmissionClient(address), timeout=120, every=1,
                       ignore=(ConnectionError,))
            (root / "jobs").mkdir()
            jobs = first_steps(root / "jobs", {**env, "TUNELOOP_RAY_ADDRESS": address})
        finally:
            stop_process(head, group=True)
            subprocess.run(["rm", "-rf", str(ray_tmp)], check=False)
    print("seconds from submit to the first training step (1 worker, 2 CPU cores)")
    print(f"  {'':34s} {'first job':>10s} {'second job':>11s}")
    print(f"  {'local Ray (embedded default)':34s} {local[0]:10.1f} {local[1]:11.1f}")
    print(f"  {'Ray Jobs API, separate cluster':34s} {jobs[0]:10.1f} {jobs[1]:11.1f}")
    print(f"  ratio Ray Jobs/local: first {jobs[0] / local[0]:.2f}x, second {jobs[1] / local[1]:.2f}x")


if __name__ == "__main__":
    main()
