"""The report agrees with scikit-learn and with itself; the gate gives the verdicts it promises."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score

from tuneloop.errors import InvalidArgument
from tuneloop.evaluator.compare import GatePolicy, compare, mcnemar_p
from tuneloop.evaluator.scores import expected_calibration_error, report

LABELS = ["business", "sport", "tech"]


def _probs(pred: np.ndarray, confidence: float = 0.8, k: int = 3) -> np.ndarray:
    p = np.full((len(pred), k), (1 - confidence) / (k - 1))
    p[np.arange(len(pred)), pred] = confidence
    return p


def test_report_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    probs = rng.dirichlet([1, 1, 1], 200)
    pred = probs.argmax(1)
    r = report(y, probs, LABELS)
    assert r["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert r["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert r["f1_weighted"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert r["precision_macro"] == pytest.approx(precision_score(y, pred, average="macro"))
    assert r["recall_macro"] == pytest.approx(recall_score(y, pred, average="macro"))
    assert r["log_loss"] == pytest.approx(log_loss(y, probs, labels=[0, 1, 2]))
    per_class_f1 = f1_score(y, pred, average=None)
    assert [r["per_class"][lab]["f1"] for lab in LABELS] == pytest.approx(list(per_class_f1))


def test_confusion_matrix_agrees_with_accuracy_and_support():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 150)
    r = report(y, rng.dirichlet([1, 1, 1], 150), LABELS)
    m = np.array(r["confusion_matrix"]["matrix"])
    assert r["confusion_matrix"]["labels"] == LABELS
    assert m.sum() == r["n"] == 150
    assert np.trace(m) / m.sum() == pytest.approx(r["accuracy"])
    assert [int(x) for x in m.sum(axis=1)] == [r["per_class"][lab]["support"] for lab in LABELS]


def test_same_inputs_same_report():
    rng = np.random.default_rng(3)
    y, probs = rng.integers(0, 3, 80), rng.dirichlet([1, 1, 1], 80)
    assert report(y, probs, LABELS) == report(y.copy(), probs.copy(), LABELS)


def test_ece_is_zero_when_confidence_matches_accuracy():
    y = np.array([0] * 8 + [1] * 2)
    pred = np.zeros(10, dtype=int)  # 80% right at 80% confidence
    assert expected_calibration_error(_probs(pred, 0.8, 2), y) == pytest.approx(0.0)
    assert expected_calibration_error(_probs(pred, 1.0, 2), y) == pytest.approx(0.2)


def test_a_clearly_better_candidate_is_promoted():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 400)
    good = np.where(rng.random(400) < 0.92, y, (y + 1) % 3)
    poor = np.where(rng.random(400) < 0.60, y, (y + 1) % 3)
    out = compare(y, good, poor, LABELS, GatePolicy(min_improvement=0.05, max_class_drop=0.05))
    assert out["verdict"] == "promote", out["reasons"]
    assert out["ci_low"] > 0 and out["mcnemar_p"] < 0.05 and out["delta_f1_macro"] > 0.2


def test_the_same_model_against_itself_is_inconclusive_with_zero_delta():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 300)
    pred = np.where(rng.random(300) < 0.8, y, (y + 2) % 3)
    out = compare(y, pred, pred, LABELS, GatePolicy())
    assert out["verdict"] == "inconclusive"
    assert out["delta_f1_macro"] == 0.0 and out["ci_low"] == 0.0 and out["ci_high"] == 0.0
    assert out["mcnemar_p"] == 1.0 and all(d == 0.0 for d in out["per_class_delta"].values())


def test_winning_overall_but_losing_a_class_is_rejected_with_that_reason():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 600)
    baseline = np.where(rng.random(600) < 0.75, y, (y + 1) % 3)
    candidate = np.where(y == 2, np.where(rng.random(600) < 0.55, y, 0), y)  # perfect on 0/1, worse on 2
    out = compare(y, candidate, baseline, LABELS, GatePolicy(max_class_drop=0.05))
    assert out["delta_f1_macro"] > 0, "the candidate should win overall in this setup"
    assert out["verdict"] == "reject"
    assert any("'tech'" in reason and "drops" in reason for reason in out["reasons"]), out["reasons"]


def test_mcnemar_exact_and_chi_square():
    right = np.array([True] * 10)
    assert mcnemar_p(right, right) == 1.0
    assert mcnemar_p(np.array([True] * 10), np.array([False] * 10)) == pytest.approx(2 / 1024)  # exact, b=10 c=0
    b = np.array([True] * 40 + [False] * 10)
    c = np.array([False] * 40 + [True] * 10)
    assert mcnemar_p(b, c) < 1e-4  # chi-square branch, 40 vs 10 discordant


def test_bad_policies():
    for kwargs in ({"alpha": 0}, {"alpha": 1.5}, {"max_class_drop": -0.1}, {"resamples": 1}):
        with pytest.raises(InvalidArgument):
            GatePolicy(**kwargs)
