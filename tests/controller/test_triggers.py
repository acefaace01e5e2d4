"""Which runs the controller's triggers start: new data, drift, schedule, rollback check, each once.

No training is needed to decide whether a run starts, so the champion here is a small
uploaded version with lineage; the services are real, the reconcile loop is off and
`fire_triggers` is called by hand to look at one decision at a time.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from conftest import labeled_rows, wait_until, write_jsonl
from tuneloop.client import Client
from tuneloop.controller.reconcile import Reconciler
from tuneloop.controller.store import ControllerStore
from tuneloop.core.db import open_database
from tuneloop.v1 import registry_pb2

LABELS = ("business", "sport", "tech")
TINY = Path(tempfile.gettempdir()) / f"tuneloop-tiny-model-{os.getpid()}"  # a config-only "model"


@pytest.fixture
def env(tmp_path, server_factory, monkeypatch):
    monkeypatch.setenv("TUNELOOP_CONTROLLER_ENABLED", "false")
    server = server_factory()
    engine = open_database(f"sqlite:///{tmp_path / 'state' / 'tuneloop.db'}")
    with Client(f"127.0.0.1:{server.port}", timeout=60) as client:
        client.dataprep.ingest(write_jsonl(tmp_path / "v1.jsonl", labeled_rows(300, LABELS)), dataset="news")
        TINY.mkdir(exist_ok=True)
        (TINY / "config.json").write_text("{}")
        client.registry.upload_dir(TINY, model="base", kind="base")
        yield client, Reconciler(ControllerStore(engine), lambda: client), ControllerStore(engine), tmp_path
    engine.dispose()


def _champion(client: Client, dataset: str, *, previous: bool = False) -> None:
    """A `news-model` version trained (so its lineage says) on `dataset`, made champion."""
    version = client.registry.upload_dir(TINY, model="news-model",
                                         lineage=registry_pb2.Lineage(dataset=dataset, base_model="base@1"))
    aliases = {"champion": version.version}
    if previous:
        aliases["previous-champion"] = version.version - 1
    client.registry.set_aliases("news-model", aliases, actor="test")


def _append(client: Client, tmp_path, name: str, rows: list[dict]) -> str:
    client.dataprep.append(write_jsonl(tmp_path / f"{name}.jsonl", rows), dataset="news")
    latest = client.dataprep.get_version("news")
    return f"{latest.dataset}@{latest.version}"


def _runs(store: ControllerStore, policy: str) -> list[tuple[str, str, str]]:
    return [(r.trigger, r.key.split(":")[0], r.dataset) for r in store.runs(policy)]


def test_initial_and_new_data_runs_start_once_per_dataset_version(env):
    client, reconciler, store, tmp_path = env
    client.controller.create_policy("p", dataset="news", base_model="base", model="news-model", min_new_rows=50)
    first = client.dataprep.get_version("news")
    v1 = f"news@{first.version}"
    for _ in range(3):  # no champion yet: one initial run, however often the trigger fires
        reconciler.fire_triggers("p", _spec(store, "p"))
    assert _runs(store, "p") == [("initial", "data", v1)]

    _champion(client, v1)
    v2 = _append(client, tmp_path, "v2", labeled_rows(12, LABELS, prefix="small"))
    reconciler.fire_triggers("p", _spec(store, "p"))
    assert len(store.runs("p")) == 1, "12 new rows are below min_new_rows=50 and must not start a run"

    v3 = _append(client, tmp_path, "v3", labeled_rows(60, LABELS, prefix="more"))
    assert v3 != v2
    for _ in range(3):
        reconciler.fire_triggers("p", _spec(store, "p"))
    assert _runs(store, "p") == [("initial", "data", v1), ("new_data", "data", v3)]


def test_drift_starts_a_run_below_min_new_rows_and_balanced_data_does_not(env):
    client, reconciler, store, tmp_path = env
    client.controller.create_policy("d", dataset="news", base_model="base", model="news-model",
                                    min_new_rows=10_000, drift_threshold=0.05)
    first = client.dataprep.get_version("news")
    _champion(client, f"news@{first.version}")
    _append(client, tmp_path, "balanced", labeled_rows(30, LABELS, prefix="balanced"))
    assert client.dataprep.report("news").drift.label_shift < 0.05
    reconciler.fire_triggers("d", _spec(store, "d"))
    assert store.runs("d") == []

    skewed = [{"text": f"only sport here number {i}", "label": "sport"} for i in range(60)]
    v3 = _append(client, tmp_path, "skewed", skewed)
    shift = client.dataprep.report("news").drift.label_shift
    assert shift >= 0.05, shift
    reconciler.fire_triggers("d", _spec(store, "d"))
    reconciler.fire_triggers("d", _spec(store, "d"))
    assert _runs(store, "d") == [("drift", "data", v3)]


def test_schedule_starts_one_run_per_slot(env):
    client, reconciler, store, _tmp = env
    client.controller.create_policy("s", dataset="news", base_model="base", model="news-model",
                                    min_new_rows=10_000, every_seconds=3600)
    first = client.dataprep.get_version("news")
    v1 = f"news@{first.version}"
    _champion(client, v1)  # the champion saw the newest data: only the schedule can fire
    for _ in range(3):
        reconciler.fire_triggers("s", _spec(store, "s"))
    runs = store.runs("s")
    assert [(r.trigger, r.dataset) for r in runs] == [("schedule", v1)]
    assert runs[0].key.startswith("schedule:")


def test_new_data_after_a_promotion_is_first_checked_for_a_rollback(env):
    client, reconciler, store, tmp_path = env
    client.controller.create_policy("r", dataset="news", base_model="base", model="news-model", min_new_rows=1)
    first = client.dataprep.get_version("news")
    _champion(client, f"news@{first.version}")
    _champion(client, f"news@{first.version}", previous=True)  # champion 2, previous-champion 1
    v2 = _append(client, tmp_path, "v2", labeled_rows(20, LABELS, prefix="later"))
    reconciler.fire_triggers("r", _spec(store, "r"))
    (check,) = store.runs("r")
    assert (check.trigger, check.state, check.dataset) == ("rollback_check", "EVALUATING", v2)
    assert (check.candidate, check.champion_before) == ("news-model@1", "news-model@2")
    reconciler.fire_triggers("r", _spec(store, "r"))  # the check exists: now the data trigger
    assert [r.trigger for r in store.runs("r")] == ["rollback_check", "new_data"]
    reconciler.fire_triggers("r", _spec(store, "r"))
    assert len(store.runs("r")) == 2


def _spec(store: ControllerStore, name: str):
    from tuneloop.controller.policy import PolicySpec

    return PolicySpec(**store.policy(name).spec)


def test_a_registry_event_wakes_the_loop_long_before_its_next_poll(tmp_path, monkeypatch):
    from tuneloop.app import start
    from tuneloop.core.settings import ServerSettings

    monkeypatch.setenv("TUNELOOP_CONTROLLER_POLL_SECONDS", "120")
    server = start(ServerSettings(data_dir=tmp_path / "state", address="127.0.0.1:0", shutdown_grace_seconds=1),
                   ["dataprep", "registry", "controller"])  # no trainer: a started run just waits PENDING
    engine = open_database(f"sqlite:///{tmp_path / 'state' / 'tuneloop.db'}")
    store = ControllerStore(engine)
    try:
        with Client(f"127.0.0.1:{server.port}", timeout=60) as client:
            client.dataprep.ingest(write_jsonl(tmp_path / "v1.jsonl", labeled_rows(300, LABELS)), dataset="news")
            TINY.mkdir(exist_ok=True)
            (TINY / "config.json").write_text("{}")
            client.registry.upload_dir(TINY, model="base", kind="base")
            _champion(client, f"news@{client.dataprep.get_version('news').version}")
            client.controller.create_policy("p", dataset="news", base_model="base", model="news-model")
            time.sleep(1.5)  # the pass that creating the policy woke: the champion saw all data, nothing to do
            assert store.runs("p") == []
            _append(client, tmp_path, "v2", labeled_rows(20, LABELS, prefix="new"))
            time.sleep(1.5)  # dataprep does not wake the loop; its next poll is two minutes away
            assert store.runs("p") == []
            client.registry.set_tags("base@1", {"note": "any registry event"})
            runs = wait_until("a run started by the event", lambda: store.runs("p"), timeout=20)
            assert [r.trigger for r in runs] == ["new_data"]
    finally:
        server.stop()
        engine.dispose()
