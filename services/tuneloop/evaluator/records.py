"""The evaluator's objects: a report, a stored evaluation, a comparison (no SQL, no protobuf).

A report is validated into `Report` where it is made and where it is read back from the
store, so the servicer, the comparison and the store all see the same typed fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from pydantic import BaseModel

from tuneloop.ml.spec import CLASSIFICATION


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


class CalibrationBin(BaseModel):
    low: float
    high: float
    count: int
    confidence: float  # mean top-label confidence of the predictions in the bin
    accuracy: float  # their accuracy


class Scores(BaseModel):
    """What the predictions score against the labels (`scores.report`); zero for a generation
    report, which has `generation` instead."""

    n: int
    accuracy: float = 0.0
    precision_macro: float = 0.0
    recall_macro: float = 0.0
    f1_macro: float = 0.0
    precision_weighted: float = 0.0
    recall_weighted: float = 0.0
    f1_weighted: float = 0.0
    log_loss: float = 0.0
    ece: float = 0.0
    per_class: dict[str, ClassScores] = {}
    confusion_matrix: Confusion = Confusion(labels=[], matrix=[])
    warnings: list[str] = []  # ml.collapse.warnings: a degenerate model, in words
    calibration: list[CalibrationBin] = []  # the reliability diagram's bins (non-empty ones)


class Sample(BaseModel):
    prompt: str  # its first 300 characters
    reference: str
    generated: str
    rouge_l: float


class GenerationScores(BaseModel):
    """What generated completions score against the references (`textgen.scores`)."""

    exact_match: float
    rouge_l: float
    token_f1: float
    loss: float  # mean token loss of the reference completions
    perplexity: float
    max_new_tokens: int
    samples: list[Sample]  # the first few examples, to read


class Report(Scores):
    """Scores of one model version on one split of one dataset version."""

    model: str  # NAME@VERSION
    dataset: str  # NAME@VERSION
    split: str
    examples_per_second: float
    task: str = CLASSIFICATION
    generation: GenerationScores | None = None

    @property
    def score(self) -> float:
        """The task's headline metric: macro-F1, or ROUGE-L for generation."""
        return self.generation.rouge_l if self.generation is not None else self.f1_macro


@dataclass(frozen=True)
class Evaluation:
    """A stored report with the per-example predictions a later comparison needs."""

    report: Report
    predictions: list[int] | list[str]  # label indexes, or generated texts
    truth: list[int] | list[str]  # label indexes, or reference completions
    created_at: datetime


class PairedStats(BaseModel):
    """Candidate vs baseline on the same examples (`compare.compare`)."""

    n: int
    metric: str  # what the verdict is about: f1_macro, or rouge_l for generation
    delta: float  # its change
    p_value: float
    test: str  # mcnemar (on correctness), or wilcoxon (on per-example ROUGE-L)
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
