"""Keeping a classifier fine-tuned on little or imbalanced data from collapsing to one class,
and saying so plainly when it did.

Tried from outside: 200 training e-mails (70% ham), one epoch, the bottom layers frozen, a
learning rate of 2e-5 gave a model that predicts "ham" for everything (macro-F1 0.40) and
nothing said why. Three remedies live here:

- `head_parameters`: the classification head is new (randomly initialised) while the body is
  pretrained; the loop gives the head `head_lr_multiplier` times the body's learning rate (the
  usual "lower learning rate" advice is for the pretrained layers, not for a head that starts
  from nothing). A generation task has no new head: its LM head is pretrained.
- `class_weights`: scikit-learn's "balanced" weights (n / (k * count)) for the loss, when the
  commonest training label outnumbers the rarest by more than `class_weight_ratio`.
- `scores` and `warnings`: validation reports how many classes the model predicts and how
  often its favourite; a model that predicts one class for everything, or whose macro-F1 is no
  better than chance (1/k, what guessing by the label frequencies scores), gets a warning in
  words that the job, the evaluation and the report carry.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

HINT = ("on small or imbalanced data: train more epochs, raise learning_rate or head_lr_multiplier, "
        "freeze fewer layers, keep class_weighting on")


def head_parameters(model) -> set[int]:
    """ids of the parameters of the model's new classification head: what lies outside the
    pretrained body (transformers' `base_model_prefix` submodule), or under a model's own
    `head_prefixes`; through DDP's `module` and peft's wrapper."""
    model = getattr(model, "module", model)
    if hasattr(model, "get_base_model"):  # peft: the same parameter objects, under the model's own names
        model = model.get_base_model()
    prefixes = getattr(model, "head_prefixes", None)
    if prefixes is None:
        body = getattr(model, "base_model_prefix", "")
        if not body or not hasattr(model, body):
            return set()
        return {id(p) for name, p in model.named_parameters() if not name.startswith(f"{body}.")}
    return {id(p) for name, p in model.named_parameters() if name.startswith(tuple(prefixes))}


def class_weights(targets: list[int], n_labels: int, ratio: float) -> list[float] | None:
    """Balanced loss weights per label index, or None when the labels present are balanced
    within `ratio` (a label absent from training keeps weight 1: it has no examples to weigh)."""
    from sklearn.utils.class_weight import compute_class_weight

    counts = Counter(targets)
    if len(counts) < 2 or max(counts.values()) <= ratio * min(counts.values()):
        return None
    present = np.array(sorted(counts))
    balanced = compute_class_weight("balanced", classes=present, y=np.asarray(targets))
    weights = [1.0] * n_labels
    for label, weight in zip(present.tolist(), balanced.tolist(), strict=True):
        weights[label] = float(weight)
    return weights


def scores(targets: list[int], preds: list[int], n_labels: int) -> dict[str, float]:
    """Validation scores of a classifier: macro-F1 (the score to keep the best by), accuracy,
    and what the collapse check reads: classes predicted, the commonest prediction and its share."""
    from sklearn.metrics import accuracy_score, f1_score

    f1 = float(f1_score(targets, preds, average="macro", labels=list(range(n_labels)), zero_division=0))
    top, count = Counter(preds).most_common(1)[0] if preds else (0, 0)
    return {"val_f1_macro": f1, "val_accuracy": float(accuracy_score(targets, preds)) if preds else 0.0,
            "val_score": f1, "val_predicted_classes": float(len(set(preds))), "val_top_class": float(top),
            "val_top_share": count / len(preds) if preds else 0.0}


def warnings(metrics: dict, labels: list[str], where: str = "validation") -> list[str]:
    """What is wrong with a classifier whose `scores` are `metrics`, in words (empty: nothing)."""
    if len(labels) < 2 or "val_predicted_classes" not in metrics:
        return []
    found = []
    if metrics["val_predicted_classes"] <= 1:
        top = labels[int(metrics["val_top_class"])]
        found.append(f"degenerate model: it predicts {top!r} for every {where} example")
    chance = 1.0 / len(labels)
    if metrics["val_f1_macro"] <= chance:
        found.append(f"degenerate model: {where} macro-F1 {metrics['val_f1_macro']:.3f} is no better than chance "
                     f"({chance:.3f} for {len(labels)} labels)")
    return found[:-1] + [f"{found[-1]} ({HINT})"] if found else []
