"""The `live_performance` trigger: a champion whose answers the feedback says are wrong has
that feedback appended to its dataset, and a run starts on the version that makes, once.

The champion is a tiny random BERT classifier served for real; the feedback goes through the
serving service; the reconcile loop is off and `fire_triggers` is called by hand (as in
test_triggers.py), so the decision is looked at before any training would start.
"""

from __future__ import annotations

import os

import pytest

from conftest import labeled_rows, tiny_classifier, wait_until, write_jsonl
from tuneloop.client import Client
from tuneloop.controller.policy import PolicySpec
from tuneloop.controller.reconcile import Reconciler
from tuneloop.controller.store import ControllerStore
from tuneloop.core.db import open_database
from tuneloop.v1 import registry_pb2

os.environ.setdefault("HF_HUB_OFFLINE", "1")
LABELS = ("business", "sport", "tech")


@pytest.fixture
def env(tmp_path, server_factory, monkeypatch):
    monkeypatch.setenv("TUNELOOP_CONTROLLER_ENABLED", "false")
    server = server_factory()
    engine = open_database(f"sqlite:///{tmp_path / 'state' / 'tuneloop.db'}")
    with Client(f"127.0.0.1:{server.port}", timeout=120) as client:
        first = client.dataprep.ingest(write_jsonl(tmp_path / "v1.jsonl", labeled_rows(90, LABELS)), dataset="news")
        model = tiny_classifier(tmp_path / "model", 3, LABELS)
        client.registry.upload_dir(model, model="base", kind="base")
        client.registry.upload_dir(model, model="news-model", lineage=registry_pb2.Lineage(
            dataset=f"news@{first.version}", base_model="base@1"))
        client.registry.set_aliases("news-model", {"champion": 1}, actor="test")
        yield client, Reconciler(ControllerStore(engine), lambda: client), ControllerStore(engine), first, tmp_path
    engine.dispose()


def _wrong_feedback(client: Client, texts: list[str]) -> None:
    for text in texts:
        answer = client.serving.predict("news-model", text)
        client.serving.feedback(answer.prediction_id, next(x for x in LABELS if x != answer.label))


def test_live_accuracy_below_the_floor_or_the_test_accuracy_appends_feedback_and_starts_one_run(env):
    client, reconciler, store, first, _ = env
    common = dict(dataset="news", base_model="base", model="news-model", min_new_rows=10_000, live_min_feedback=20)
    client.controller.create_policy("floor", live_min_accuracy=0.9, **common)
    client.controller.create_policy("test", live_alpha=0.01, **common)
    client.controller.create_policy("off", **common)
    specs = {p: PolicySpec(**store.policy(p).spec) for p in ("floor", "test", "off")}

    _wrong_feedback(client, [f"a live story number {i}" for i in range(12)])
    for name, spec in specs.items():
        reconciler.fire_triggers(name, spec)
    assert store.runs("floor") == store.runs("test") == [], "12 feedback rows are below live_min_feedback=20"
    assert client.dataprep.get_version("news").version == first.version

    _wrong_feedback(client, [f"a live story number {i}" for i in range(12, 24)])
    [live] = client.serving.live("news-model@1")
    assert (live.feedback, live.correct, live.accuracy) == (24, 0, 0.0)
    for _ in range(2):
        for name, spec in specs.items():
            reconciler.fire_triggers(name, spec)
    latest = client.dataprep.get_version("news")
    assert latest.parent == first.version and latest.rows_out == first.rows_out + 24, "the feedback was appended"
    for name in ("floor", "test"):
        [run] = store.runs(name)
        assert (run.trigger.value, run.dataset) == ("live_performance", f"news@{latest.version}"), name
    assert store.runs("off") == [], "a policy without live checks ignores feedback"
    assert client.serving.append_feedback("news-model") == [], "appended once"


def test_a_champion_worse_on_live_feedback_than_the_previous_one_is_rolled_back(env):
    """The previous champion was right on its live feedback, the champion is wrong on its own:
    the live check starts a rollback check before any retraining, and the aliases move back."""
    client, reconciler, store, first, tmp_path = env
    client.registry.upload_dir(tiny_classifier(tmp_path / "second", 4, LABELS), model="news-model",
                               lineage=registry_pb2.Lineage(dataset=f"news@{first.version}", base_model="base@1"))
    for i in range(24):  # news-model@1, champion: right every time
        answer = client.serving.predict("news-model", f"an older story {i}")
        client.serving.feedback(answer.prediction_id, answer.label)
    client.registry.set_aliases("news-model", {"champion": 2, "previous-champion": 1}, actor="test")
    wait_until("traffic on news-model@2", lambda: client.serving.predict("news-model", "x").model_version
               == "news-model@2", timeout=60, every=0.2)
    _wrong_feedback(client, [f"a newer story {i}" for i in range(24)])
    client.controller.create_policy("floor", dataset="news", base_model="base", model="news-model",
                                    min_new_rows=10_000, live_min_accuracy=0.9, live_min_feedback=20)
    spec = PolicySpec(**store.policy("floor").spec)
    reconciler.fire_triggers("floor", spec)
    [check] = store.runs("floor")
    assert (check.trigger.value, check.state.value) == ("rollback_check", "EVALUATING")
    assert (check.candidate, check.champion_before) == ("news-model@1", "news-model@2")
    reconciler.step(check, spec)
    [done] = store.runs("floor")
    assert done.state.value == "ROLLED_BACK" and done.champion_after == "news-model@1", done
    assert done.reasons[0].startswith("live feedback: news-model@1 was right on 1.000 of 24 rows, news-model@2 on "
                                      "0.000 of 24"), done.reasons
    assert dict(client.registry.get_model("news-model").aliases) == {"champion": 1, "previous-champion": 2}
