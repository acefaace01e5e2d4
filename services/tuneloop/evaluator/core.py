"""The evaluator use cases, free of gRPC: evaluate a model version on a split, compare two.

Models and data come from the registry and dataprep over gRPC. A report is stored per
(model version, dataset version, split), together with its per-example predictions, and
written to the registry as the version's metrics named `<dataset>@<version>/<split>/<metric>`;
asking again returns the stored report unless a refresh is asked for.
"""

from __future__ import annotations

import threading

import numpy as np

from tuneloop.errors import FailedPrecondition, InvalidArgument
from tuneloop.evaluator import metrics as prom
from tuneloop.evaluator.compare import GatePolicy, compare
from tuneloop.evaluator.records import Comparison, Evaluation, Report
from tuneloop.evaluator.scores import report as make_report
from tuneloop.evaluator.store import EvaluationStore
from tuneloop.ml.classifier import Classifier
from tuneloop.ml.inputs import Inputs

SPLITS = ("train", "validation", "test")
STORED_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "log_loss", "ece")


class EvaluatorCore:
    def __init__(self, store: EvaluationStore, inputs: Inputs) -> None:
        self.store = store
        self.inputs = inputs
        self._lock = threading.Lock()  # one inference at a time: it uses every core already

    def evaluate(self, model_ref: str, dataset_ref: str, split: str = "test", *, refresh: bool = False
                 ) -> tuple[Evaluation, bool]:
        """The report (stored or computed) and whether it came from the store."""
        split = split or "test"
        if split not in SPLITS:
            raise InvalidArgument(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        version = self.inputs.model(model_ref)
        dataset = self.inputs.dataset(dataset_ref)
        model_key, dataset_key = f"{version.model}@{version.version}", f"{dataset.dataset}@{dataset.version}"
        stored = None if refresh else self.store.get(model_key, dataset_key, split)
        if stored is not None:
            self._publish(version, stored.report)
            return stored, True
        with self._lock:
            classifier = Classifier(self.inputs.model_dir(version))
            self._check_labels(classifier.labels, sorted(dataset.labels), model_key, dataset_key)
            texts, labels = self.inputs.rows(dataset, split)
            if not texts:
                raise FailedPrecondition(f"split {split!r} of {dataset_key} is empty")
            probs, per_second = classifier.probabilities(texts)
        index = {label: i for i, label in enumerate(classifier.labels)}
        truth = np.array([index[label] for label in labels])
        rep = Report(**make_report(truth, probs, classifier.labels), model=model_key, dataset=dataset_key, split=split,
                     examples_per_second=per_second)
        stored = self.store.put(rep, probs.argmax(axis=1).tolist(), truth.tolist())
        self.inputs.client().registry.set_metrics(
            model_key, {f"{dataset_key}/{split}/{name}": getattr(rep, name) for name in STORED_METRICS})
        prom.EVALUATIONS.inc()
        prom.EXAMPLES_PER_SECOND.set(per_second)
        self._publish(version, rep)
        return stored, False

    @staticmethod
    def _check_labels(model_labels: list[str], data_labels: list[str], model_key: str, dataset_key: str) -> None:
        unknown = sorted(set(data_labels) - set(model_labels))
        unused = sorted(set(model_labels) - set(data_labels))
        if unknown or unused:
            parts = []
            if unknown:
                parts.append(f"labels the model does not know: {', '.join(unknown)}")
            if unused:
                parts.append(f"model labels absent from the dataset: {', '.join(unused)}")
            raise FailedPrecondition(f"{model_key} and {dataset_key} disagree on labels ({'; '.join(parts)})")

    @staticmethod
    def _publish(version, rep: Report) -> None:
        for alias in version.aliases:
            prom.ALIAS_F1.labels(version.model, alias).set(rep.f1_macro)

    def compare(self, candidate: str, baseline: str, dataset_ref: str, split: str, policy: GatePolicy) -> Comparison:
        cand, _ = self.evaluate(candidate, dataset_ref, split)
        base, _ = self.evaluate(baseline, dataset_ref, split)
        labels = cand.report.confusion_matrix.labels
        base_labels = base.report.confusion_matrix.labels
        if sorted(labels) != sorted(base_labels):
            raise FailedPrecondition(f"candidate and baseline know different labels: {labels} vs {base_labels}")
        to_cand = np.array([labels.index(name) for name in base_labels])  # baseline index -> candidate index
        truth, base_truth = np.array(cand.truth), to_cand[np.array(base.truth)]
        if len(truth) != len(base_truth) or not (truth == base_truth).all():
            raise FailedPrecondition("candidate and baseline were evaluated on different examples")
        stats = compare(truth, np.array(cand.predictions), to_cand[np.array(base.predictions)], labels, policy)
        return Comparison(**stats, candidate=cand.report.model, baseline=base.report.model,
                          dataset=cand.report.dataset, split=cand.report.split, candidate_report=cand.report,
                          baseline_report=base.report)
