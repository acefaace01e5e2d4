"""Live drift: how the inputs a served version sees, and what it predicts, differ from the data
it was trained on (the dataset version in its lineage).

Per version, over its latest `window` logged predictions, against its training split:
- label shift: the total variation distance between the predicted labels' shares and the
  training split's label shares (0: the same mix, 1: disjoint);
- length shift: the two-sample Kolmogorov-Smirnov statistic of input lengths in characters;
- unseen words: the share of live words (lowercased `\\w+`) the training split never contains,
  beside the same share for its validation split: what an ordinary new text scores.
The training split is read once per version through dataprep and kept. Image versions get the
label shift only; generation versions the two text measures.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from tuneloop.client import Client
from tuneloop.core.names import split_ref
from tuneloop.core.schema import predictions, served_versions
from tuneloop.ml.spec import CLASSIFICATION, GENERATION
from tuneloop.serving import metrics as prom

WORD = re.compile(r"\w+")


@dataclass
class Reference:
    """What a version was trained on, as drift needs it."""

    label_shares: dict[str, float]
    lengths: np.ndarray
    vocabulary: frozenset[str]
    validation_unseen: float  # the share of the validation split's words not in the training split


@dataclass
class Drift:
    label_shift: float = 0.0
    length_shift: float = 0.0
    unseen_words: float = 0.0
    validation_unseen_words: float = 0.0
    inputs: int = 0  # predictions the window held


def _words(texts: Iterable[str]) -> list[str]:
    return [w.lower() for t in texts for w in WORD.findall(t)]


def _unseen(words: list[str], vocabulary: frozenset[str]) -> float:
    return sum(w not in vocabulary for w in words) / len(words) if words else 0.0


class DriftMonitor:
    def __init__(self, engine: sa.Engine, client: Callable[[], Client]) -> None:
        self.engine = engine
        self.client = client
        self._lock = threading.Lock()
        self._references: dict[str, Reference] = {}

    def reference(self, dataset: str) -> Reference:
        """The training split of `dataset` (NAME@VERSION), read once."""
        with self._lock:
            found = self._references.get(dataset)
        if found is not None:
            return found
        name, version = split_ref(dataset)
        dataprep = self.client().dataprep
        train = list(dataprep.read_split(name, version, "train"))
        validation = [r.text for r in dataprep.read_split(name, version, "validation")]
        counts = Counter(r.label for r in train)
        vocabulary = frozenset(_words(r.text for r in train))
        ref = Reference({k: v / max(len(train), 1) for k, v in counts.items()},
                        np.array([len(r.text) for r in train], dtype=float), vocabulary,
                        _unseen(_words(validation), vocabulary))
        with self._lock:
            self._references[dataset] = ref
        return ref

    def drift(self, model_version: str, window: int) -> Drift:
        """The drift of `model_version`'s latest `window` predictions (zeros without a training
        dataset in its lineage, or before any prediction)."""
        from scipy.stats import ks_2samp

        with self.engine.connect() as conn:
            served = conn.execute(sa.select(served_versions.c.task, served_versions.c.dataset)
                                  .where(served_versions.c.model_version == model_version)).first()
            rows = conn.execute(sa.select(predictions.c.text, predictions.c.predicted)
                                .where(predictions.c.model_version == model_version)
                                .order_by(predictions.c.created_at.desc(), predictions.c.id.desc())
                                .limit(window)).all()
        if served is None or not served.dataset or not rows:
            return Drift()
        ref = self.reference(served.dataset)
        out = Drift(inputs=len(rows), validation_unseen_words=ref.validation_unseen)
        if served.task != GENERATION:
            seen = Counter(r.predicted for r in rows)
            labels = set(seen) | set(ref.label_shares)
            out.label_shift = 0.5 * sum(abs(seen.get(k, 0) / len(rows) - ref.label_shares.get(k, 0.0)) for k in labels)
        texts = [r.text for r in rows if r.text]
        if texts and served.task in (CLASSIFICATION, GENERATION) and len(ref.lengths):
            out.length_shift = float(ks_2samp([len(t) for t in texts], ref.lengths).statistic)
            out.unseen_words = _unseen(_words(texts), ref.vocabulary)
        prom.LABEL_SHIFT.labels(model_version).set(out.label_shift)
        prom.LENGTH_SHIFT.labels(model_version).set(out.length_shift)
        prom.UNSEEN_WORDS.labels(model_version).set(out.unseen_words)
        return out
