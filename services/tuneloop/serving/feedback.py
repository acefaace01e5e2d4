"""Feedback: the truth for a logged prediction is recorded (checked against what the predicting
version knows), and becomes training data: the true labels fed back for a model's predictions are
appended, through dataprep, to the dataset each predicting version was trained on.

Dataprep treats them like any upload (cleaned, deduplicated against what the dataset holds, a
row already in a split keeping it, a new version with its report); the upload is named
`feedback-MODEL.jsonl`, which the version's report keeps as its source, and each logged
prediction records the dataset version its feedback went into. Rows are claimed before the
upload, so two replicas appending at once never send a row twice, and a claim left by a
replica that died mid-upload lapses after `CLAIM_SECONDS`. An upload that fails releases its
claim: nothing is marked appended that dataprep did not take. How versions do on the feedback
is `live.py`'s.
"""

from __future__ import annotations

import base64
import json
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tuneloop.client import Client
from tuneloop.core.db import write_transaction
from tuneloop.core.names import check_name
from tuneloop.core.schema import predictions, served_versions
from tuneloop.core.settings import ServingSettings
from tuneloop.errors import InvalidArgument
from tuneloop.ml.spec import GENERATION, IMAGE_CLASSIFICATION
from tuneloop.serving import live
from tuneloop.serving import metrics as prom
from tuneloop.serving.drift import DriftMonitor
from tuneloop.serving.log import PredictionLog

log = logging.getLogger(__name__)
CLAIM_SECONDS = 600


class Feedback:
    """The feedback use cases: record the truth for a prediction, append it as training data, and
    say how versions do on it and how their inputs drift (`live`). A thread refreshes the live
    gauges of the loaded versions every `drift_seconds`, feedback or not."""

    def __init__(self, log: PredictionLog, client: Callable[[], Client], settings: ServingSettings,
                 route_key: Callable[[str], str], loaded: Callable[[], list[str]] = list) -> None:
        self.log, self.client, self.settings, self.route_key, self.loaded = log, client, settings, route_key, loaded
        self.drift = DriftMonitor(log.engine, client)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._refresh, name="serving-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _refresh(self) -> None:
        while not self._stop.wait(self.settings.drift_seconds):
            for version in self.loaded():
                try:
                    self.live(version)
                except Exception:  # noqa: BLE001 - dataprep away, say: the gauges keep their values
                    log.warning("could not refresh the live figures of %s", version, exc_info=True)

    def record(self, prediction_id: str, label: str) -> dict:
        found = self.log.record_feedback(prediction_id, label)
        live.stats(self.log.engine, found.model_version, self.settings.live_window)  # refreshes the gauges
        return {"prediction_id": found.id, "model_version": found.model_version, "predicted": found.predicted,
                "label": found.feedback, "correct": found.feedback == found.predicted}

    def append(self, model: str) -> list[Appended]:
        return append_feedback(self.log.engine, self.client, check_name(model.strip(), what="model"))

    def live(self, ref: str, window: int = 0, baseline: float = 0.0) -> list[live.LiveStats]:
        if not 0 <= window <= live.MAX_WINDOW or not 0 <= baseline <= 1:
            raise InvalidArgument(f"window must be 0..{live.MAX_WINDOW} and baseline_accuracy 0..1")
        window = window or self.settings.live_window
        if "@" in ref:
            found = [live.stats(self.log.engine, self.route_key(ref), window, baseline)]
        else:
            found = live.model_stats(self.log.engine, check_name(ref.strip(), what="model"), window, baseline)
        for stats in found:
            d = self.drift.drift(stats.model_version, window)
            stats.label_shift, stats.length_shift = d.label_shift, d.length_shift
            stats.unseen_words, stats.validation_unseen_words = d.unseen_words, d.validation_unseen_words
        return found


@dataclass
class Appended:
    dataset_version: str  # NAME@VERSION after the append (the latest one if nothing was new)
    rows: int  # feedback rows sent
    created: bool  # a new version was made
    dropped: dict[str, int]  # of the rows sent, those dataprep dropped, by reason


def _claim(engine: sa.Engine, model: str, dataset: str) -> str:
    """Mark the unappended feedback on `model`'s versions trained on (any version of) dataset
    `dataset` as ours; the claim."""
    now = int(time.time())
    claim = f"claimed:{now:012d}:{uuid.uuid4().hex[:12]}"
    versions = sa.select(served_versions.c.model_version).where(
        served_versions.c.model_version.like(f"{model}@%"),
        sa.or_(served_versions.c.dataset == dataset, served_versions.c.dataset.like(f"{dataset}@%")))
    free = sa.or_(predictions.c.appended_to.is_(None),
                  sa.and_(predictions.c.appended_to.like("claimed:%"),
                          predictions.c.appended_to < f"claimed:{now - CLAIM_SECONDS:012d}"))
    with write_transaction(engine) as conn:
        conn.execute(sa.update(predictions).where(predictions.c.feedback.is_not(None), free,
                                                  predictions.c.shadow_of.is_(None),  # copies of the same input
                                                  predictions.c.model_version.in_(versions))
                     .values(appended_to=claim))
    return claim


def _upload_rows(rows: Sequence[sa.Row], task: str, path: Path) -> dict:
    """Write the claimed rows as the dataset's kind of JSONL; the column options naming them."""
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            if task == GENERATION:
                record = {"prompt": r.text, "completion": r.feedback}
            elif task == IMAGE_CLASSIFICATION:
                record = {"image": base64.b64encode(r.image).decode("ascii"), "label": r.feedback}
            else:
                record = {"text": r.text, "label": r.feedback}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    if task == GENERATION:
        return {"prompt_column": "prompt", "completion_column": "completion"}
    if task == IMAGE_CLASSIFICATION:
        return {"image_column": "image", "label_column": "label"}
    return {"text_column": "text", "label_column": "label"}


def _when(row: sa.Row) -> str:
    return row.feedback_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def append_feedback(engine: sa.Engine, client: Callable[[], Client], model: str) -> list[Appended]:
    """Append every unappended feedback row on `model`'s predictions to its training datasets
    (one new version per dataset); nothing to append gives an empty list."""
    with engine.connect() as conn:
        served = conn.execute(sa.select(served_versions.c.dataset, served_versions.c.task)
                              .where(served_versions.c.model_version.like(f"{model}@%"))).all()
    # a version with no training dataset in its lineage (a base model) has nowhere to send feedback
    datasets = sorted({(dataset.partition("@")[0], task) for dataset, task in served if dataset})
    out = []
    for name, task in datasets:
        claim = _claim(engine, model, name)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(predictions).where(predictions.c.appended_to == claim)
                                .order_by(predictions.c.feedback_at, predictions.c.id)).all()
        if not rows:
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="tuneloop-feedback-") as tmp:
                path = Path(tmp) / f"feedback-{model}.jsonl"
                columns = _upload_rows(rows, task, path)
                source = (f"feedback on {model}'s served predictions: {len(rows)} rows, predictions "
                          f"{rows[0].id} to {rows[-1].id}, labelled {_when(rows[0])} to {_when(rows[-1])}")
                resp = client().dataprep.append(path, dataset=name, format="jsonl", source=source, **columns)
        except BaseException:
            with write_transaction(engine) as conn:
                conn.execute(sa.update(predictions).where(predictions.c.appended_to == claim)
                             .values(appended_to=None))
            raise
        target = f"{resp.version.dataset}@{resp.version.version}"
        with write_transaction(engine) as conn:
            conn.execute(sa.update(predictions).where(predictions.c.appended_to == claim).values(appended_to=target))
        prom.FEEDBACK_APPENDED.labels(name).inc(len(rows))
        out.append(Appended(target, len(rows), resp.created, dict(resp.dropped)))
    return out
