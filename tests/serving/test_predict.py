"""The serving service through gRPC: predictions from the champion, micro-batching across
callers and within a stream, a hot swap under concurrent load, and bad input.

The models are small BERT classifiers with random weights (seeded) and MiniLM's tokenizer,
registered as fine-tuned versions: serving loads them as it loads any trained model, and their
answers are checked against the evaluator's own inference on the same folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from conftest import serving, tiny_classifier, wait_until
from tuneloop.client.serving import request

os.environ.setdefault("HF_HUB_OFFLINE", "1")
LABELS = ("business", "sport", "tech")
TEXTS = [f"headline number {i}: " + "markets rally " * (i % 7) + "team wins " * (i % 5) for i in range(40)]


def reference(folder: Path, texts: list[str]) -> np.ndarray:
    """The evaluator's inference on the same folder: what serving must answer."""
    from tuneloop.ml.classifier import Classifier

    return Classifier(folder).probabilities(texts)[0]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("serving")
    folders = [tiny_classifier(data_dir / f"model-{seed}", seed) for seed in (1, 2)]
    mp = pytest.MonkeyPatch()
    mp.setenv("TUNELOOP_SERVING_MAX_WAIT_MS", "40")  # wide enough that concurrent callers surely meet
    mp.setenv("TUNELOOP_SERVING_MAX_BATCH", "16")
    # batches of these texts run in several forward passes: the answers must still be the evaluator's
    mp.setenv("TUNELOOP_SERVING_CPU_BATCH_TOKENS", "64")
    try:
        with serving(data_dir, services=["registry", "serving"], timeout=120) as (server, client):
            client.registry.upload_dir(folders[0], model="news")
            client.registry.set_aliases("news", {"champion": 1})
            client.registry.upload_dir(folders[0], model="raw", kind="base")
            yield {"client": client, "folders": folders, "probs": [reference(f, TEXTS) for f in folders],
                   "address": f"127.0.0.1:{server.port}"}
    finally:
        mp.undo()


def top_probs(answer) -> dict[str, float]:
    return {s.label: s.probability for s in answer.top}


def test_predict_answers_with_the_champion_as_the_evaluator_would(env):
    client, probs = env["client"], env["probs"][0]
    ids = set()
    for i in (0, 3, 11):
        answer = client.serving.predict("news", TEXTS[i], top_k=3)
        assert answer.model_version == "news@1"
        assert [s.label for s in answer.top] == [LABELS[j] for j in np.argsort(-probs[i], kind="stable")]
        assert answer.label == answer.top[0].label and not answer.truncated
        assert top_probs(answer) == pytest.approx(dict(zip(LABELS, probs[i].tolist(), strict=True)), abs=1e-5)
        ids.add(answer.prediction_id)
    assert len(ids) == 3
    assert len(client.serving.predict("news:champion", TEXTS[0]).top) == 3  # default top-k 5, capped at 3 labels
    assert len(client.serving.predict("news@1", TEXTS[0], top_k=1).top) == 1


def test_concurrent_callers_and_a_stream_are_batched_together(env):
    client, probs = env["client"], env["probs"][0]
    before = {v.model_version: v for v in client.serving.status()}["news@1"]
    start = threading.Barrier(12)
    answers: dict[int, object] = {}

    def call(i: int) -> None:
        start.wait(30)
        answers[i] = client.serving.predict("news@1", TEXTS[i], top_k=3)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(answers) == list(range(12))
    after = {v.model_version: v for v in client.serving.status()}["news@1"]
    requests, batches = after.requests - before.requests, after.batches - before.batches
    assert requests == 12 and batches < 12, f"12 concurrent requests ran in {batches} batches"
    for i, answer in answers.items():
        assert top_probs(answer) == pytest.approx(dict(zip(LABELS, probs[i].tolist(), strict=True)), abs=1e-5)

    streamed = list(client.serving.predict_stream([request("news", t, top_k=3) for t in TEXTS], timeout=60))
    assert len(streamed) == len(TEXTS)
    for i, answer in enumerate(streamed):  # in order: answer i is text i's
        assert top_probs(answer) == pytest.approx(dict(zip(LABELS, probs[i].tolist(), strict=True)), abs=1e-5)
    final = {v.model_version: v for v in client.serving.status()}["news@1"]
    assert final.batches - after.batches < len(TEXTS)


def test_a_batch_runs_in_passes_bounded_by_padded_tokens_shortest_first():
    from tuneloop.ml.modeling import chunks

    lengths = [256, 10, 12, 256, 11, 200, 9, 256]
    assert chunks(lengths, batch_size=32) == [[6, 1, 4, 2, 5, 0, 3, 7]]
    assert chunks(lengths, batch_size=3) == [[6, 1, 4], [2, 5, 0], [3, 7]]
    # 4 short ones (4 x 12 = 48 padded tokens), then 200 + 256 > 300: the long ones go alone
    assert chunks(lengths, batch_size=32, max_tokens=300) == [[6, 1, 4, 2], [5], [0], [3], [7]]
    assert chunks(lengths, batch_size=32, max_tokens=600) == [[6, 1, 4, 2], [5, 0], [3, 7]]  # 2 x 256 fit
    assert chunks([500], batch_size=8, max_tokens=100) == [[0]], "one example alone may pass the budget"
    assert chunks([], batch_size=8, max_tokens=100) == []


def test_a_long_text_is_cut_and_says_so(env):
    answer = env["client"].serving.predict("news", "word " * 1000)
    assert answer.truncated and answer.model_version == "news@1"


def test_long_and_short_texts_from_many_callers_at_once_all_get_answers(env):
    """Found by bench/serve.py: callers tokenizing at once (a long text cut, a short one not) broke
    the shared fast tokenizer: requests failed as INTERNAL ("Already borrowed" in the bench) or,
    here, came back with the wrong `truncated`: one caller's settings leaked into another's."""
    client = env["client"]
    texts = ["word " * (300 + i) if i % 2 else TEXTS[i % len(TEXTS)] for i in range(64)]
    answers: dict[int, object] = {}
    errors: list[BaseException] = []

    def call(n: int) -> None:
        for i in range(n, len(texts), 8):
            try:
                answers[i] = client.serving.predict("news@1", texts[i])
            except grpc.RpcError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:2]
    assert [answers[i].truncated for i in range(len(texts))] == [bool(i % 2) for i in range(len(texts))]


@pytest.mark.parametrize(("model", "text", "options", "code", "words"), [
    ("news", "", {}, grpc.StatusCode.INVALID_ARGUMENT, "empty"),
    ("news", "   ", {}, grpc.StatusCode.INVALID_ARGUMENT, "empty"),
    ("news", "x" * 100_001, {}, grpc.StatusCode.INVALID_ARGUMENT, "at most 100000"),
    ("news", "", {"image": b"\x89PNG..."}, grpc.StatusCode.INVALID_ARGUMENT, "classifies texts"),
    ("news", "fine", {"top_k": -1}, grpc.StatusCode.INVALID_ARGUMENT, "top_k"),
    ("news@x", "fine", {}, grpc.StatusCode.INVALID_ARGUMENT, "positive number"),
    ("../news", "fine", {}, grpc.StatusCode.INVALID_ARGUMENT, "path characters"),
    ("", "fine", {}, grpc.StatusCode.INVALID_ARGUMENT, "model is empty"),
    ("nope", "fine", {}, grpc.StatusCode.NOT_FOUND, "nope"),
    ("news:nope", "fine", {}, grpc.StatusCode.NOT_FOUND, "nope"),
    ("news@9", "fine", {}, grpc.StatusCode.NOT_FOUND, "9"),
    ("raw@1", "fine", {}, grpc.StatusCode.FAILED_PRECONDITION, "raw@1 is a base model"),
])
def test_bad_input_is_refused_with_a_precise_code(env, model, text, options, code, words):
    with pytest.raises(grpc.RpcError) as err:
        env["client"].serving.predict(model, text, **options)
    assert err.value.code() == code and words in err.value.details()


def test_a_bad_request_in_a_stream_ends_it_with_its_code(env):
    stream = env["client"].serving.predict_stream([request("news", "fine"), request("news", "")], timeout=60)
    got = []
    with pytest.raises(grpc.RpcError) as err:
        for answer in stream:
            got.append(answer)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and len(got) <= 1


def test_the_cli_predicts_from_arguments_and_stdin_and_shows_what_is_loaded(env):
    environ = {**os.environ, "TUNELOOP_ADDRESS": env["address"]}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tuneloop.cli", *args], env=environ, capture_output=True,
                              text=True, timeout=300, input=stdin)

    proc = cli("predict", "--model", "news", "--json", "--top-k", "2", TEXTS[0])
    assert proc.returncode == 0, proc.stderr
    (one,) = json.loads(proc.stdout)["predictions"]
    assert one["input"] == TEXTS[0] and one["model_version"] == "news@1" and len(one["top"]) == 2
    assert one["label"] == LABELS[int(np.argmax(env["probs"][0][0]))] and len(one["prediction_id"]) == 32
    proc = cli("predict", "--model", "news@1", "--json", stdin="\n".join(TEXTS[:5]) + "\n\n")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["predictions"]
    assert [r["input"] for r in rows] == TEXTS[:5]  # blank lines skipped, order kept
    assert [r["label"] for r in rows] == [LABELS[int(np.argmax(p))] for p in env["probs"][0][:5]]
    table = cli("predict", "--model", "news", TEXTS[1])
    assert table.returncode == 0 and "news@1" in table.stdout and "prediction id" in table.stdout
    proc = cli("serve-status", "--json")
    assert proc.returncode == 0, proc.stderr
    loaded = {v["model_version"]: v for v in json.loads(proc.stdout)["versions"]}
    assert "news:champion" in loaded["news@1"]["serves"] and loaded["news@1"]["requests"] >= 5
    missing = cli("predict", "--model", "nope", "hello")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr and not missing.stdout


def test_moving_the_alias_under_load_switches_traffic_with_no_failure(env):
    client, folders, probs = env["client"], env["folders"], env["probs"]
    stop = threading.Event()
    seen: list[list[tuple[float, str, int, dict]]] = [[] for _ in range(6)]
    failures: list[BaseException] = []

    def load(n: int) -> None:
        i = n
        while not stop.is_set():
            i = (i + 6) % len(TEXTS)
            try:
                a = client.serving.predict("news", TEXTS[i], top_k=3)
            except grpc.RpcError as exc:
                failures.append(exc)
                continue
            seen[n].append((time.monotonic(), a.model_version, i, top_probs(a)))

    threads = [threading.Thread(target=load, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    try:
        wait_until("every caller answered by news@1", lambda: all(seen), timeout=60)
        client.registry.upload_dir(folders[1], model="news")
        client.registry.set_aliases("news", {"champion": 2})
        wait_until("traffic moves to news@2", lambda: all(s and s[-1][1] == "news@2" for s in seen), timeout=120)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not failures, failures[:3]
    for per_thread in seen:
        versions = [v for _, v, _, _ in per_thread]
        assert set(versions) == {"news@1", "news@2"}
        switch = versions.index("news@2")
        assert "news@1" not in versions[switch:], "a caller was answered by the old version after the new one"
        for _, version, i, answer in per_thread:  # each answer wholly from the version it names
            expected = probs[int(version[-1]) - 1][i]
            assert answer == pytest.approx(dict(zip(LABELS, expected.tolist(), strict=True)), abs=1e-5)
    # the old version is unloaded once nothing routes to it (news@1 was also asked for by number
    # above: that route keeps it until it is evicted)
    serves = {v.model_version: list(v.serves) for v in client.serving.status()}
    assert serves["news@2"] == ["news:champion"]
    assert "news:champion" not in serves.get("news@1", [])


def test_deleting_the_alias_drops_its_route_and_unloads_what_only_it_served(env):
    client = env["client"]
    client.registry.upload_dir(env["folders"][0], model="news")  # news@3: the same files as news@1
    client.registry.set_aliases("news", {"staging": 3})
    assert client.serving.predict("news:staging", "fine").model_version == "news@3"
    assert "news@3" in {v.model_version for v in client.serving.status()}
    client.registry.delete_alias("news", "staging")

    def gone() -> bool:
        try:
            client.serving.predict("news:staging", "fine")
        except grpc.RpcError as exc:
            return exc.code() == grpc.StatusCode.NOT_FOUND
        return False

    wait_until("news:staging is gone", gone, timeout=30)
    assert "news@3" not in {v.model_version for v in client.serving.status()}
