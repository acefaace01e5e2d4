"""The evaluator's objects: a report, a stored evaluation, a comparison (no SQL, no protobuf).

A report is validated into `Report` where it is made and where it is read back from the
store, so the servicer, the comparison and the store all see the same typed fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from pydantic import BaseModel


class Verdict(str, Enum):
    PROMOTE = "promote"
    REJECT = "reject"
    INCONCLUSIVE = "inconclusive"


class ClassScores(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class Confusion(BaseModel):
    labels: list[str]
    matrix: list[list[int]]  # rows: true label, columns: predicted, in `labels` order


class Scores(BaseModel):
    """What the predictions score against the labels (`scores.report`)."""

    n: int
    accuracy: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    precision_weighted: float
    recall_weighted: float
    f1_weighted: float
    log_loss: float
    ece: float
    per_class: dict[str, ClassScores]
    confusion_matrix: Confusion


class Report(Scores):
    """Scores of one model version on one split of one dataset version."""

    model: str  # NAME@VERSION
    dataset: str  # NAME@VERSION
    split: str
    examples_per_second: float


@dataclass(frozen=True)
class Evaluation:
    """A stored report with the per-example predictions a later comparison needs."""

    report: Report
    predictions: list[int]
    truth: list[int]
    created_at: datetime


class PairedStats(BaseModel):
    """Candidate vs baseline on the same examples (`compare.compare`)."""

    n: int
    delta_f1_macro: float
    ci_low: float
    ci_high: float
    delta_accuracy: float
    accuracy_ci_low: float
    accuracy_ci_high: float
    mcnemar_p: float
    per_class_delta: dict[str, float]
    verdict: Verdict
    reasons: list[str]


class Comparison(PairedStats):
    candidate: str
    baseline: str
    dataset: str
    split: str
    candidate_report: Report
    baseline_report: Report
