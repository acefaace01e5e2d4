"""The evaluator use cases, free of gRPC: evaluate a model version on a split, compare two.
A text-generation dataset's split is evaluated by generating (greedy) and scoring the text
against the references (`textgen`); a comparison is then on ROUGE-L.

Models and data come from the registry and dataprep over gRPC. A report is stored per
(model version, dataset version, split), together with its per-example predictions, and
written to the registry as the version's metrics named `<dataset>@<version>/<split>/<metric>`;
asking again returns the stored report unless a refresh is asked for.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from tuneloop.errors import FailedPrecondition, InvalidArgument, NotFound
from tuneloop.evaluator import metrics as prom
from tuneloop.evaluator import textgen
from tuneloop.evaluator.compare import GatePolicy, compare
from tuneloop.evaluator.records import Comparison, Evaluation, GenerationScores, Report, Sample
from tuneloop.evaluator.scores import report as make_report
from tuneloop.evaluator.store import EvaluationStore
from tuneloop.ml import board
from tuneloop.ml.classifier import Classifier
from tuneloop.ml.generation import Generator
from tuneloop.ml.imagetask import ImagePredictor
from tuneloop.ml.inputs import Inputs
from tuneloop.ml.spec import CLASSIFICATION, GENERATION, IMAGE_CLASSIFICATION
from tuneloop.ml.vision import is_image_model

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")
DEFAULT_NEW_TOKENS = 32
SAMPLES = 5  # generated examples kept in a report, to read
STORED_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "log_loss", "ece")


class EvaluatorCore:
    def __init__(self, store: EvaluationStore, inputs: Inputs) -> None:
        self.store = store
        self.inputs = inputs
        self._lock = threading.Lock()  # one inference at a time: it uses every core already

    def evaluate(self, model_ref: str, dataset_ref: str, split: str = "test", *, refresh: bool = False,
                 max_new_tokens: int = 0, stored_only: bool = False) -> tuple[Evaluation, bool]:
        """The report (stored or computed) and whether it came from the store. `max_new_tokens`
        (generation; 0: 32, or what the stored report used) bounds each generated completion.
        `stored_only`: NotFound instead of computing one."""
        split = split or "test"
        if split not in SPLITS:
            raise InvalidArgument(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        if not 0 <= max_new_tokens <= 4096:
            raise InvalidArgument(f"max_new_tokens must be between 1 and 4096 (0: the default), not {max_new_tokens}")
        version = self.inputs.model(model_ref)
        dataset = self.inputs.dataset(dataset_ref)
        model_key, dataset_key = f"{version.model}@{version.version}", f"{dataset.dataset}@{dataset.version}"
        stored = None if refresh else self.store.get(model_key, dataset_key, split)
        if stored is not None and max_new_tokens and stored.report.generation is not None \
                and stored.report.generation.max_new_tokens != max_new_tokens:
            stored = None  # asked for other lengths than the stored report's
        if stored is not None:
            self._publish(version, stored.report)
            return stored, True
        if stored_only:
            raise NotFound(f"no evaluation of {model_key} on {dataset_key} ({split}) is stored")
        if dataset.task == GENERATION:
            return self._evaluate_generation(version, dataset, split, max_new_tokens or DEFAULT_NEW_TOKENS), False
        with self._lock:
            model_dir = self.inputs.model_dir(version)
            images = dataset.task == IMAGE_CLASSIFICATION
            if images != is_image_model(model_dir):
                raise FailedPrecondition(f"{model_key} is {'an image' if not images else 'a text'} classifier: it "
                                         f"cannot be evaluated on {dataset_key}, a {dataset.task} dataset")
            classifier = ImagePredictor(model_dir) if images else Classifier(model_dir)
            self._check_labels(classifier.labels, sorted(dataset.labels), model_key, dataset_key)
            texts, labels = self.inputs.rows(dataset, split)
            if not texts:
                raise FailedPrecondition(f"split {split!r} of {dataset_key} is empty")
            inputs = self.inputs.images(dataset, split) if images else texts
            probs, per_second = classifier.probabilities(inputs)  # type: ignore[arg-type]
        index = {label: i for i, label in enumerate(classifier.labels)}
        truth = np.array([index[label] for label in labels])
        rep = Report(**make_report(truth, probs, classifier.labels), model=model_key, dataset=dataset_key, split=split,
                     examples_per_second=per_second, task=dataset.task or CLASSIFICATION)
        stored = self.store.put(rep, probs.argmax(axis=1).tolist(), truth.tolist())
        self.inputs.client().registry.set_metrics(
            model_key, {f"{dataset_key}/{split}/{name}": getattr(rep, name) for name in STORED_METRICS})
        prom.EVALUATIONS.inc()
        prom.EXAMPLES_PER_SECOND.set(per_second)
        self._publish(version, rep)
        _log_board(version, dataset.dataset, split, truth, probs, classifier.labels, rep)
        return stored, False

    def _evaluate_generation(self, version, dataset, split: str, max_new_tokens: int) -> Evaluation:
        model_key, dataset_key = f"{version.model}@{version.version}", f"{dataset.dataset}@{dataset.version}"
        with self._lock:
            model_dir = self.inputs.model_dir(version)
            if not (model_dir / "config.json").is_file():
                raise FailedPrecondition(f"{model_key} has no config.json: not a Hugging Face model")
            generator = Generator(model_dir)
            prompts, references = self.inputs.rows(dataset, split)
            if not prompts:
                raise FailedPrecondition(f"split {split!r} of {dataset_key} is empty")
            generated, per_second = generator.generate(prompts, max_new_tokens=max_new_tokens)
            loss = generator.loss(prompts, references)
        rouge = textgen.rouge_l(generated, references)
        metrics = textgen.scores(generated, references, loss=loss, rouge=rouge)
        samples = [Sample(prompt=p[:300], reference=r, generated=g, rouge_l=float(x))
                   for p, r, g, x in zip(prompts[:SAMPLES], references, generated, rouge, strict=False)]
        rep = Report(n=len(prompts), model=model_key, dataset=dataset_key, split=split, task=GENERATION,
                     examples_per_second=per_second,
                     generation=GenerationScores(**metrics, max_new_tokens=max_new_tokens, samples=samples))
        stored = self.store.put(rep, generated, references)
        self.inputs.client().registry.set_metrics(
            model_key, {f"{dataset_key}/{split}/{name}": value for name, value in metrics.items()})
        prom.EVALUATIONS.inc()
        prom.EXAMPLES_PER_SECOND.set(per_second)
        self._publish(version, rep)
        return stored

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
            prom.ALIAS_F1.labels(version.model, alias).set(rep.score)

    def compare(self, candidate: str, baseline: str, dataset_ref: str, split: str, policy: GatePolicy,
                *, max_new_tokens: int = 0) -> Comparison:
        cand, _ = self.evaluate(candidate, dataset_ref, split, max_new_tokens=max_new_tokens)
        base, _ = self.evaluate(baseline, dataset_ref, split, max_new_tokens=cand.report.generation.max_new_tokens
                                if cand.report.generation else 0)
        if cand.report.task != base.report.task:
            raise FailedPrecondition(f"candidate and baseline were evaluated as {cand.report.task} and "
                                     f"{base.report.task}")
        if cand.report.generation is not None:
            if cand.truth != base.truth:
                raise FailedPrecondition("candidate and baseline were evaluated on different examples")
            stats = textgen.compare_generation(list(map(str, cand.truth)), list(map(str, cand.predictions)),
                                               list(map(str, base.predictions)), policy)
            return self._comparison(stats, cand, base)
        labels = cand.report.confusion_matrix.labels
        base_labels = base.report.confusion_matrix.labels
        if sorted(labels) != sorted(base_labels):
            raise FailedPrecondition(f"candidate and baseline know different labels: {labels} vs {base_labels}")
        to_cand = np.array([labels.index(name) for name in base_labels])  # baseline index -> candidate index
        truth, base_truth = np.array(cand.truth), to_cand[np.array(base.truth)]
        if len(truth) != len(base_truth) or not (truth == base_truth).all():
            raise FailedPrecondition("candidate and baseline were evaluated on different examples")
        stats = compare(truth, np.array(cand.predictions), to_cand[np.array(base.predictions)], labels, policy)
        return self._comparison(stats, cand, base)

    @staticmethod
    def _comparison(stats: dict, cand: Evaluation, base: Evaluation) -> Comparison:
        return Comparison(**stats, candidate=cand.report.model, baseline=base.report.model,
                          dataset=cand.report.dataset, split=cand.report.split, candidate_report=cand.report,
                          baseline_report=base.report)


def _log_board(version, dataset: str, split: str, truth: np.ndarray, probs: np.ndarray, labels: list[str],
               rep: Report) -> None:
    """Log an evaluation into the version's TensorBoard run (its `tensorboard` tag: a version the
    trainer registered), under eval/<split>, or eval/<dataset>/<split> for another dataset than the
    one it was trained on. The evaluation is stored already: a storage failure is logged and counted."""
    url = version.tags.get(board.TAG)
    if not url:
        return
    prefix = f"eval/{split}" if version.tags.get("dataset") == dataset else f"eval/{dataset}/{split}"
    try:
        with board.Board(url) as run:
            board.write_classification(run, prefix, truth, probs, labels, rep.model_dump())
    except OSError:
        prom.BOARD_FAILURES.inc()
        log.warning("could not log the evaluation of %s@%s to TensorBoard at %s", version.model, version.version,
                    url, exc_info=True)
