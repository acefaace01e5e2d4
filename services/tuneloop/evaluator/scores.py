"""The evaluation report of predictions against labels, computed with scikit-learn's metrics
(so numbers match what users compute themselves), plus expected calibration error."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support

from tuneloop.ml import collapse


def calibration_bins(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> list[dict]:
    """Top-label reliability: per equal-width confidence bin, its edges, how many predictions fall
    in it, their mean confidence and their accuracy (empty bins are left out)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    found = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            found.append({"low": float(lo), "high": float(hi), "count": int(in_bin.sum()),
                          "confidence": float(confidence[in_bin].mean()), "accuracy": float(correct[in_bin].mean())})
    return found


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: |accuracy - confidence| per equal-width confidence bin, weighted by bin size."""
    n = max(len(y_true), 1)
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in calibration_bins(probs, y_true, bins)))


def report(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
    """Accuracy; precision, recall, F1 per class, macro and weighted; confusion matrix (rows: true,
    columns: predicted, in `labels` order); log loss; ECE and its reliability bins; support; n; warnings of a degenerate
    model (`ml.collapse`)."""
    ids = list(range(len(labels)))
    y_pred = probs.argmax(axis=1)
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=ids, average="macro", zero_division=0)
    weighted = precision_recall_fscore_support(y_true, y_pred, labels=ids, average="weighted", zero_division=0)
    clipped = np.clip(probs, 1e-15, 1.0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(macro[0]), "recall_macro": float(macro[1]), "f1_macro": float(macro[2]),
        "precision_weighted": float(weighted[0]), "recall_weighted": float(weighted[1]),
        "f1_weighted": float(weighted[2]),
        "log_loss": float(log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True), labels=ids)),
        "ece": expected_calibration_error(probs, y_true),
        "calibration": calibration_bins(probs, y_true),
        "per_class": {label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                              "support": int(support[i])} for i, label in enumerate(labels)},
        "confusion_matrix": {"labels": list(labels),
                             "matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist()},
        "warnings": collapse.warnings(collapse.scores(y_true.tolist(), y_pred.tolist(), len(labels)), labels,
                                      where="evaluated"),
    }
