"""The trainer against a remote Ray cluster's Jobs API that is not there (yet): it retries,
can be cancelled meanwhile, and fails naming why once its connect window is spent. A real
cluster (two nodes, S3, no shared disk) is in tests/cluster.
"""

from __future__ import annotations

import time

import pytest

from conftest import child_env, free_port, seed_bbc_and_minilm, start_up, stop_process, wait_serving, wait_until
from tuneloop.client import Client
from tuneloop.client.trainer import state_name
from tuneloop.core.settings import TrainerSettings


@pytest.mark.timeout(300)
def test_a_job_waiting_for_an_unreachable_cluster_is_cancellable_and_fails_after_the_connect_window(tmp_path):
    """Nothing listens at the Ray address. A cancelled waiting job is CANCELLED at once (not
    after the connect window); an uncancelled one FAILS once the window is spent, naming why."""
    port, nowhere = free_port(), free_port()
    up_log = tmp_path / "up.log"
    env = child_env(TUNELOOP_RAY_ADDRESS=f"http://127.0.0.1:{nowhere}", TUNELOOP_TRAINER_RAY_CONNECT_SECONDS="40")
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
            assert "ConnectionError" in done.error and f"127.0.0.1:{nowhere}" in done.error, done.error
            assert 25 < time.monotonic() - started < 110, "the job did not keep retrying for its connect window"
    finally:
        stop_process(up, group=True)


def test_a_ray_client_address_is_refused_naming_the_jobs_api(monkeypatch):
    monkeypatch.setenv("TUNELOOP_RAY_ADDRESS", "ray://head:10001")
    with pytest.raises(ValueError, match="dashboard's http"):
        TrainerSettings()
    monkeypatch.setenv("TUNELOOP_RAY_ADDRESS", "http://head:8265")
    assert TrainerSettings().ray_address == "http://head:8265"


def test_a_failed_ray_jobs_reason_is_its_last_traceback_not_rays_status_lines():
    from tuneloop.trainer.rayjobs import _why

    log = "\n".join(["@@tuneloop-event {}", "Traceback (most recent call last):", '  File "d.py", line 3, in main',
                     "    fit()", "RuntimeError: the worker group failed", "  - objects in use: 0",
                     "  - bytes in use: 0"])
    assert _why(log).splitlines()[-1] == "RuntimeError: the worker group failed"
    assert "objects in use" not in _why(log) and "@@tuneloop" not in _why(log)
    assert _why("a\nb") == "a\nb"


def test_the_driver_rebuilds_every_field_of_the_loop_config_it_is_handed():
    """What the runner sends a remote driver (RayJob or Ray Jobs API) comes back as the same
    LoopConfig there: a generation job stays a generation job."""
    from tuneloop.ml.spec import make_spec
    from tuneloop.trainer.driver import arguments, decode, encode, loop_config
    from tuneloop.trainer.loop import LoopConfig

    sent = LoopConfig(spec=make_spec(dataset="d", base_model="b", model="m", task="text-generation", lora=True),
                      labels=[], dataset="d@1", base_model="b@1", services={"address": "10.0.0.1:50051"},
                      storage_url="s3://bucket/jobs/job-1", threads=3, task="text-generation")
    args = decode(encode(arguments(sent, {"name": "job-1", "workers": 2, "use_gpu": False, "max_failures": 1})))
    assert args["workers"] == 2 and args["name"] == "job-1"
    assert loop_config(args, progress=None) == sent
