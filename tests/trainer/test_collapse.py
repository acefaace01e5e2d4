"""The remedies for a classifier collapsing on small or imbalanced data, and the check that says
so (`ml.collapse`): which parameters are the new head, the optimizer's rates, class weights, and
the degenerate-model warnings (in the evaluator's report too)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tuneloop.evaluator.scores import report
from tuneloop.ml import collapse
from tuneloop.trainer.loop import _optimizer

LABELS = ["ham", "spam"]


def test_one_class_for_everything_is_named_with_the_class_and_what_to_do():
    metrics = collapse.scores([0, 0, 0, 1, 1, 0, 0], [0] * 7, 2)
    assert metrics["val_predicted_classes"] == 1 and metrics["val_top_share"] == 1.0
    found = collapse.warnings(metrics, LABELS)
    assert len(found) == 2  # one class, and a macro-F1 (0.42) below chance (0.5)
    assert "predicts 'ham' for every validation example" in found[0]
    assert "macro-F1 0.417 is no better than chance (0.500 for 2 labels)" in found[1]
    assert "head_lr_multiplier" in found[1] and "class_weighting" in found[1]


def test_a_model_that_separates_the_classes_gets_no_warning():
    assert collapse.warnings(collapse.scores([0, 0, 1, 1, 2], [0, 0, 1, 1, 1], 3), ["a", "b", "c"]) == []


def test_two_classes_predicted_at_chance_is_still_degenerate():
    metrics = collapse.scores([0, 1, 2, 0, 1, 2], [1, 0, 0, 1, 0, 0], 3)
    assert metrics["val_predicted_classes"] == 2
    (only,) = collapse.warnings(metrics, ["a", "b", "c"])
    assert "no better than chance (0.333 for 3 labels)" in only


def test_the_evaluators_report_carries_the_warning():
    truth = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    probs = np.tile([0.7, 0.3], (10, 1))  # "ham" for everything: 70% accuracy, macro-F1 0.41
    rep = report(truth, probs, LABELS)
    assert rep["accuracy"] == pytest.approx(0.7)
    assert any("predicts 'ham' for every evaluated example" in w for w in rep["warnings"])
    healthy = report(truth, np.eye(2)[truth] * 0.8 + 0.1, LABELS)
    assert healthy["warnings"] == []


def test_class_weights_are_balanced_only_past_the_ratio():
    assert collapse.class_weights([0, 0, 0, 1, 1], 2, ratio=1.5) is None  # 3:2 is within 1.5
    weights = collapse.class_weights([0] * 7 + [1] * 3, 3, ratio=1.5)
    assert weights == pytest.approx([10 / (2 * 7), 10 / (2 * 3), 1.0])  # label 2 has no examples: weight 1
    assert collapse.class_weights([0] * 10, 2, ratio=1.5) is None  # one label: nothing to balance


def _tiny_bert():
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, num_labels=3)
    return BertForSequenceClassification(config)


def test_the_head_is_what_lies_outside_the_pretrained_body():
    model = _tiny_bert()
    head = collapse.head_parameters(model)
    names = {n for n, p in model.named_parameters() if id(p) in head}
    assert names == {"classifier.weight", "classifier.bias"}
    wrapped = torch.nn.Module()
    wrapped.module = model  # what DDP looks like from outside
    assert collapse.head_parameters(wrapped) == head


def test_the_head_of_a_lora_model_is_its_trainable_copy():
    import peft

    model = peft.get_peft_model(_tiny_bert(), peft.LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query"]))
    head = collapse.head_parameters(model)
    names = {n for n, p in model.named_parameters() if id(p) in head}
    assert names and all("classifier" in n for n in names)
    assert not any("lora_" in n for n in names)  # adapters learn at the body's rate


def test_the_optimizer_gives_the_head_its_multiple_and_keeps_decay_off_biases():
    model = _tiny_bert()
    optimizer = _optimizer(model, 2e-5, 0.01, torch.device("cpu"), head=collapse.head_parameters(model),
                           head_lr_multiplier=50)
    rates = sorted((round(g["lr"], 12), len(g["params"])) for g in optimizer.param_groups)
    body = sum(n for lr, n in rates if lr == 2e-5)
    assert body == len(list(model.parameters())) - 2 and sum(n for lr, n in rates if lr == 1e-3) == 2
    head_groups = [g for g in optimizer.param_groups if g["lr"] > 2e-5]
    assert sorted(g["weight_decay"] for g in head_groups) == [0.0, 0.01]  # bias undecayed, weight decayed
    same = _optimizer(model, 2e-5, 0.01, torch.device("cpu"))
    assert {g["lr"] for g in same.param_groups} == {2e-5}
