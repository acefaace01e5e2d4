"""Feedback through gRPC: served predictions are logged with their inputs, the truth fed back
for them is checked against what the version knows, and it becomes a new version of the dataset
the model was trained on, through dataprep (a row already in a split keeps it).

The model is a tiny random BERT classifier registered with a real dataset in its lineage.
"""

from __future__ import annotations

import os
from collections import Counter

import grpc
import pytest
import sqlalchemy as sa

from conftest import labeled_rows, serving, tiny_classifier, wait_until, write_jsonl
from tuneloop.core.schema import metadata, predictions
from tuneloop.errors import InvalidArgument
from tuneloop.serving.log import PredictionLog
from tuneloop.v1 import registry_pb2

os.environ.setdefault("HF_HUB_OFFLINE", "1")
LABELS = ("business", "sport", "tech")
NEW = ["shares climb after the merger", "the striker scores twice", "a new phone chip", "oil prices slip"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("feedback")
    with serving(data_dir, services=["dataprep", "registry", "serving"], timeout=120) as (server, client):
        rows = labeled_rows(60, LABELS, prefix="story")
        first = client.dataprep.ingest(write_jsonl(data_dir / "news.jsonl", rows), dataset="news-data")
        folder = tiny_classifier(data_dir / "model", 1, LABELS)
        client.registry.upload_dir(folder, model="news", lineage=registry_pb2.Lineage(dataset=f"news-data@{first.version}"))
        client.registry.set_aliases("news", {"champion": 1})
        yield {"client": client, "first": first, "address": f"127.0.0.1:{server.port}", "folder": folder}


def rows_of(client, version: str) -> dict[str, tuple[str, str]]:
    """text -> (label, split) of a dataset version."""
    return {r.text: (r.label, split) for split in ("train", "validation", "test")
            for r in client.dataprep.read_split("news-data", version, split)}


def test_feedback_becomes_a_dataset_version_and_bad_feedback_stores_nothing(env):
    client, first = env["client"], env["first"]
    in_test = next(t for t, (_, split) in rows_of(client, first.version).items() if split == "test")
    answers = [client.serving.predict("news", t) for t in [*NEW, in_test]]
    assert all(a.logged and a.model_version == "news@1" for a in answers)

    truth = ["business", "sport", "tech", "business"]
    for a, label in zip(answers, truth, strict=False):
        r = client.serving.feedback(a.prediction_id, label)
        assert (r.model_version, r.predicted, r.label, r.correct) == ("news@1", a.label, label, a.label == label)
    test_label = rows_of(client, first.version)[in_test][0]
    client.serving.feedback(answers[-1].prediction_id, test_label)
    assert client.serving.feedback(answers[0].prediction_id, "business").label == "business", "the same again"

    # refused, naming why, and nothing stored
    for pid, label, words in [("0" * 32, "sport", "not in the prediction log"),
                              (answers[1].prediction_id, "weather", "'weather' is not one news@1 knows"),
                              (answers[1].prediction_id, "  ", "label is empty"), ("", "sport", "prediction_id")]:
        with pytest.raises(grpc.RpcError) as err:
            client.serving.feedback(pid, label)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in err.value.details()
    assert client.serving.feedback(answers[1].prediction_id, "sport").correct == (answers[1].label == "sport")

    # a correction before the append replaces the label
    client.serving.feedback(answers[3].prediction_id, "sport")
    truth[3] = "sport"

    [appended] = client.serving.append_feedback("news")
    assert appended.rows == 5 and appended.created and appended.dataset_version.startswith("news-data@")
    assert sum(appended.dropped.values()) == 1, "the test row fed back is a duplicate of what the dataset holds"
    new_version = appended.dataset_version.split("@")[1]
    version = client.dataprep.get_version("news-data", new_version)
    assert version.parent == first.version and version.rows_out == first.rows_out + len(NEW)
    after = rows_of(client, new_version)
    assert {t: after[t][0] for t in NEW} == dict(zip(NEW, truth, strict=True))
    assert after[in_test] == (test_label, "test"), "a row in an earlier test split stays in test"
    ids = sorted(a.prediction_id for a in answers)
    assert version.source.startswith("feedback on news's served predictions: 5 rows, predictions "), version.source
    assert {w for w in version.source.replace(",", " ").split() if len(w) == 32} <= set(ids), "its ids are ours"
    assert client.dataprep.get_version("news-data", first.version).source == "news.jsonl", "a file names itself"

    assert client.serving.append_feedback("news") == [], "nothing is appended twice"
    with pytest.raises(grpc.RpcError) as err:
        client.serving.feedback(answers[0].prediction_id, "tech")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "appended to news-data@" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        client.serving.append_feedback("no such model!")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_cli_records_feedback_and_appends_it(env, tmp_path):
    import json
    import subprocess
    import sys

    client, address = env["client"], env["address"]
    answer = client.serving.predict("news", "a fresh market story for the cli")

    def cli(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "tuneloop.cli", *args, "--address", address, "--json"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    got = cli("feedback", answer.prediction_id, "tech")
    assert got == {"prediction_id": answer.prediction_id, "model_version": "news@1", "predicted": answer.label,
                   "label": "tech", "correct": answer.label == "tech"}
    [loaded] = cli("serve-status")["versions"]
    [live] = client.serving.live("news")
    assert loaded["live"] == {"feedback": live.feedback, "accuracy": live.accuracy, "f1_macro": live.f1_macro,
                              "label_shift": live.label_shift, "length_shift": live.length_shift,
                              "unseen_words": live.unseen_words}
    assert live.model_version == "news@1" and live.feedback >= 1 and 0 <= live.accuracy <= 1
    [appended] = cli("append-feedback", "news")["appended"]
    assert appended["rows"] == 1 and appended["created"] is True
    bad = subprocess.run([sys.executable, "-m", "tuneloop.cli", "feedback", "f" * 32, "tech", "--address", address],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "not in the prediction log" in bad.stderr


def test_a_prediction_outside_the_sample_is_not_logged_and_a_full_queue_drops_rather_than_waits(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    metadata.create_all(engine)
    none = PredictionLog(engine, sample=0.0, max_pending=10)
    assert not none.add("a" * 32, "m@1", text="x", image=b"", predicted="y")
    full = PredictionLog(engine, sample=1.0, max_pending=2)  # its writer not started: nothing drains the queue
    assert [full.add(f"{i:032d}", "m@1", text="x", image=b"", predicted="y") for i in range(3)] == [True, True, False]
    full.start()
    full.flush()
    assert full.get(f"{1:032d}") is not None and full.get(f"{2:032d}") is None
    full.stop()


def test_live_drift_is_measured_against_the_training_split(env):
    """Label shift, length shift and unseen words of a version's latest predictions, against the
    training split of the dataset version in its lineage."""
    client, first = env["client"], env["first"]
    client.registry.upload_dir(env["folder"], model="drifty",
                               lineage=registry_pb2.Lineage(dataset=f"news-data@{first.version}"))
    train = list(client.dataprep.read_split("news-data", first.version, "train"))
    familiar = [client.serving.predict("drifty@1", r.text) for r in train[:12]]
    wait_until("logged", lambda: client.serving.live("drifty@1")[0].requests == 12, timeout=30)
    [s] = client.serving.live("drifty@1")
    shares, seen = Counter(r.label for r in train), Counter(a.label for a in familiar)
    expected = 0.5 * sum(abs(seen[k] / 12 - shares[k] / len(train)) for k in set(shares) | set(seen))
    assert s.label_shift == pytest.approx(expected) and s.label_shift > 0
    assert s.unseen_words == 0.0, "training texts"
    assert 0 < s.validation_unseen_words < 0.3, "validation texts: a few numbers the training split lacks"

    for i in range(36):  # long texts of words the training split never had
        client.serving.predict("drifty@1", f"zebra quokka {'x' * (i % 5 + 1)} " * 40)
    wait_until("logged", lambda: client.serving.live("drifty@1")[0].requests == 48, timeout=30)
    [s] = client.serving.live("drifty@1")
    assert s.unseen_words > 0.9 and s.length_shift > 0.7, s


def test_a_shadow_answer_logged_after_the_feedback_takes_it(tmp_path):
    """The shadow's batch can finish after the caller got the champion's answer and replied with
    the truth: the shadow's row, written late, is judged by that truth all the same."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    metadata.create_all(engine)
    log = PredictionLog(engine, sample=1.0, max_pending=10)
    log.start()
    try:
        log.add("c" * 32, "m@1", text="x", image=b"", predicted="sport")
        log.flush()
        log.record_feedback("c" * 32, "tech")
        log.add("s" * 32, "m@2", text="x", image=b"", predicted="tech", shadow_of="c" * 32, champion_predicted="sport")
        log.flush()
        assert log.get("s" * 32).feedback == "tech"
        with pytest.raises(InvalidArgument, match="is a shadow's"):
            log.record_feedback("s" * 32, "tech")
    finally:
        log.stop()


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_shadow_row_committed_while_its_feedback_is_being_written_still_takes_it(engine):
    """PostgreSQL (read committed) only: SQLite serializes writers, so there the interleaving
    below cannot happen. The feedback transaction has updated the answer and its shadows but not
    committed; the writer then commits a late shadow row and judges it, seeing no feedback yet.
    Before the fix that shadow never got the truth."""
    log = PredictionLog(engine, sample=1.0, max_pending=100)
    log.start()
    try:
        parent, shadow = "a" * 32, "b" * 32
        assert log.add(parent, "m@1", text="x", image=b"", predicted="sport")
        log.flush()
        fired = []

        def between_update_and_commit(conn, cursor, statement, params, context, executemany):
            if not fired and statement.startswith("UPDATE predictions") and "shadow_of" in statement:
                fired.append(True)
                log.add(shadow, "m@2", text="x", image=b"", predicted="tech", shadow_of=parent,
                        champion_predicted="sport")
                log.flush()
                with engine.connect() as other:  # written and judged, and the feedback not visible to it
                    assert other.execute(sa.select(predictions.c.feedback)
                                         .where(predictions.c.id == shadow)).scalar_one() is None

        sa.event.listen(engine, "after_cursor_execute", between_update_and_commit)
        try:
            log.record_feedback(parent, "tech")
        finally:
            sa.event.remove(engine, "after_cursor_execute", between_update_and_commit)
        assert fired
        assert log.get(shadow).feedback == "tech"
    finally:
        log.stop()
