"""Shadow and canary traffic through gRPC: a `shadow` version answers a copy of every request to
the champion (logged, never returned) and is judged by the champion's feedback; a `canary`
version answers its share of them. Both are followed through the registry's events.

Three tiny random BERT classifiers (seeded) stand for champion, shadow and canary; every
served answer is checked against the evaluator's own inference on the version that gave it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import labeled_rows, serving, tiny_classifier, wait_until, write_jsonl
from tuneloop.v1 import registry_pb2

os.environ.setdefault("HF_HUB_OFFLINE", "1")
LABELS = ("business", "sport", "tech")
TEXTS = [f"a served story {i}: " + "shares fall " * (i % 4) + "goal " * (i % 3) for i in range(30)]


def argmax_labels(folder, texts: list[str]) -> list[str]:
    from tuneloop.ml.classifier import Classifier

    return [LABELS[int(i)] for i in np.argmax(Classifier(folder).probabilities(texts)[0], axis=1)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("traffic")
    with serving(data_dir, services=["dataprep", "registry", "serving"], timeout=120) as (server, client):
        first = client.dataprep.ingest(write_jsonl(data_dir / "d.jsonl", labeled_rows(30, LABELS)), dataset="d")
        folders = [tiny_classifier(data_dir / f"m{seed}", seed, LABELS) for seed in (1, 2, 3)]
        for folder in folders:
            client.registry.upload_dir(folder, model="news", lineage=registry_pb2.Lineage(dataset=f"d@{first.version}"))
        client.registry.set_aliases("news", {"champion": 1})
        yield {"client": client, "said": [argmax_labels(f, TEXTS) for f in folders]}


def test_a_shadow_answers_copies_is_never_returned_and_is_judged_by_the_champions_feedback(env):
    client, said = env["client"], env["said"]
    client.serving.predict("news", TEXTS[0])  # served before any shadow: the shadow arrives by event
    client.registry.set_aliases("news", {"shadow": 2})
    wait_until("the shadow loaded", lambda: any("news:shadow" in v.serves for v in client.serving.status()),
               timeout=60, every=0.2)
    answers = [client.serving.predict("news", t) for t in TEXTS[:20]]
    assert [a.model_version for a in answers] == ["news@1"] * 20, "a shadow's answer is never returned"
    assert [a.label for a in answers] == said[0][:20]

    truth = [LABELS[i % 3] for i in range(20)]
    for a, label in zip(answers, truth, strict=True):
        client.serving.feedback(a.prediction_id, label)
    wait_until("every copy logged", lambda: client.serving.live("news@2")[0].shadowed == 20, timeout=30, every=0.2)
    shadow = client.serving.live("news@2")[0]
    agree = sum(a == b for a, b in zip(said[0][:20], said[1][:20], strict=True)) / 20
    assert shadow.agreement == pytest.approx(agree)
    assert shadow.feedback == 20, "the champion's feedback judges the shadow's answer to the same input"
    assert shadow.accuracy == pytest.approx(sum(s == t for s, t in zip(said[1], truth, strict=False)) / 20)
    assert shadow.champion_accuracy == pytest.approx(sum(s == t for s, t in zip(said[0], truth, strict=False)) / 20)

    [appended] = client.serving.append_feedback("news")
    assert appended.rows == 20, "a shadow's copy is not a second row"

    client.registry.delete_alias("news", "shadow")
    wait_until("the shadow unloaded", lambda: "news@2" not in {v.model_version for v in client.serving.status()},
               timeout=60, every=0.2)
    client.serving.predict("news", TEXTS[21])
    assert client.serving.live("news@2")[0].shadowed == 20, "no copies once the alias is gone"


def test_a_canary_answers_its_share_and_goes_when_its_alias_does(env):
    client, said = env["client"], env["said"]
    client.registry.set_tags("news@3", {"canary_share": "0.5"})
    client.registry.set_aliases("news", {"canary": 3})
    wait_until("the canary loaded", lambda: any("news:canary" in v.serves for v in client.serving.status()),
               timeout=60, every=0.2)
    answers = [(i, client.serving.predict("news", TEXTS[i % 30])) for i in range(160)]
    by = {"news@1": 0, "news@3": 0}
    for i, a in answers:
        by[a.model_version] += 1
        assert a.label == said[0 if a.model_version == "news@1" else 2][i % 30], a.model_version
    assert 50 <= by["news@3"] <= 110, by  # half of 160, well inside a binomial's spread
    assert client.serving.predict("news@1", TEXTS[0]).model_version == "news@1", "a pinned version is never a canary"

    # its share is followed when only its tag changes
    client.registry.set_tags("news@3", {"canary_share": "1"})
    # 30 answers all from the canary: at the old share (0.5) one try in 1e9 would pass
    wait_until("the whole share on the canary", lambda: {client.serving.predict("news", t).model_version
                                                         for t in TEXTS} == {"news@3"}, timeout=60, every=0.2)
    client.registry.set_tags("news@3", {}, remove=["canary_share"])  # back to the default, 0.1
    wait_until("the default share", lambda: sum(client.serving.predict("news", t).model_version == "news@3"
                                                for t in TEXTS) < 15, timeout=60, every=0.2)

    client.registry.delete_alias("news", "canary")
    wait_until("the canary unloaded", lambda: "news@3" not in {v.model_version for v in client.serving.status()},
               timeout=60, every=0.2)
    assert {client.serving.predict("news", t).model_version for t in TEXTS} == {"news@1"}
