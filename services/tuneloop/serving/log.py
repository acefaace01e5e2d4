"""The prediction log: predictions (a settable sample) written with their inputs, off the request
path, and the truth fed back for them.

Any replica may be asked for feedback on a prediction another replica made, so both live in
the shared database: `predictions` (input, answer, feedback, where the feedback went) and
`served_versions` (each loaded version's labels and training dataset: what feedback is
checked against and appended to). A request never waits for the database: answers queue for
a writer thread that inserts them in batches; past `max_pending` queued rows, new ones are
counted as unlogged and dropped, never queued without bound.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from tuneloop.core.db import write_transaction
from tuneloop.core.schema import predictions, served_versions
from tuneloop.errors import FailedPrecondition, InvalidArgument
from tuneloop.serving import metrics as prom

log = logging.getLogger(__name__)
FLUSH_ROWS = 256
FLUSH_SECONDS = 0.2


@dataclass(frozen=True)
class Logged:
    """A logged prediction and its feedback."""

    id: str
    model_version: str
    text: str | None
    image: bytes | None
    predicted: str
    feedback: str | None
    appended_to: str | None
    shadow_of: str | None = None


class PredictionLog:
    def __init__(self, engine: sa.Engine, *, sample: float, max_pending: int) -> None:
        self.engine = engine
        self.sample = sample
        self._queue: queue.Queue[dict | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._written = threading.Condition()
        self._added = self._done = 0  # rows queued / written (or failed) by the writer

    # --- what serving calls ---------------------------------------------------------------

    def remember_version(self, model_version: str, task: str, labels: list[str], dataset: str) -> None:
        """Record a loaded version's labels and training dataset (idempotent: a version never changes)."""
        with write_transaction(self.engine) as conn:
            if conn.execute(sa.select(served_versions.c.model_version)
                            .where(served_versions.c.model_version == model_version)).first() is None:
                conn.execute(sa.insert(served_versions).values(model_version=model_version, task=task,
                                                               labels=labels, dataset=dataset,
                                                               loaded_at=datetime.now(UTC)))

    def add(self, prediction_id: str, model_version: str, *, text: str, image: bytes, predicted: str,
            shadow_of: str | None = None, champion_predicted: str | None = None) -> bool:
        """Queue one answered prediction for the writer if it is sampled; whether it will be logged.
        A shadow's answer names the prediction it shadowed and what that one said."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return False
        row = {"id": prediction_id, "model_version": model_version, "text": text or None, "image": image or None,
               "predicted": predicted, "created_at": datetime.now(UTC), "shadow_of": shadow_of,
               "champion_predicted": champion_predicted}
        with self._written:
            try:
                self._queue.put_nowait(row)
            except queue.Full:
                prom.UNLOGGED.inc()
                return False
            self._added += 1
        return True

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until what was queued before this call is written."""
        with self._written:
            target = self._added
            self._written.wait_for(lambda: self._done >= target, timeout=timeout)

    # --- feedback -------------------------------------------------------------------------

    def get(self, prediction_id: str) -> Logged | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(predictions).where(predictions.c.id == prediction_id)).first()
        return None if r is None else Logged(r.id, r.model_version, r.text, r.image, r.predicted, r.feedback,
                                             r.appended_to, r.shadow_of)

    def version(self, model_version: str) -> sa.Row | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(served_versions)
                                .where(served_versions.c.model_version == model_version)).first()

    def record_feedback(self, prediction_id: str, label: str) -> Logged:
        """Store the truth for a logged prediction. The same label again changes nothing; another
        label replaces it until it has been appended to a dataset (then FAILED_PRECONDITION)."""
        label = label.strip()
        if not prediction_id.strip():
            raise InvalidArgument("prediction_id is empty")
        if not label:
            raise InvalidArgument("label is empty: name the true label (or completion)")
        found = self.get(prediction_id)
        if found is not None and found.shadow_of:
            raise InvalidArgument(f"prediction {prediction_id!r} is a shadow's (never returned): give feedback on "
                                  f"{found.shadow_of}, the answer it shadowed")
        if found is None:  # perhaps still queued here: written first
            self.flush()
            found = self.get(prediction_id)
        if found is None:
            raise InvalidArgument(f"prediction {prediction_id!r} is not in the prediction log: unknown, or not "
                                  "sampled (TUNELOOP_SERVING_LOG_SAMPLE)")
        served = self.version(found.model_version)
        if served is not None and served.labels and label not in served.labels:
            raise InvalidArgument(f"label {label!r} is not one {found.model_version} knows: "
                                  + ", ".join(sorted(served.labels)))
        if found.feedback == label:
            return found
        now = datetime.now(UTC)
        with write_transaction(self.engine) as conn:
            changed = conn.execute(sa.update(predictions).where(predictions.c.id == prediction_id,
                                                                predictions.c.appended_to.is_(None))
                                   .values(feedback=label, feedback_at=now)).rowcount
            # the shadows' answers to the same input are judged by the same truth
            conn.execute(sa.update(predictions).where(predictions.c.shadow_of == prediction_id)
                         .values(feedback=label, feedback_at=now))
        if not changed:
            raise FailedPrecondition(f"prediction {prediction_id!r} already has feedback {found.feedback!r}, and it "
                                     f"was appended to {found.appended_to}; it cannot change now")
        # again, committed: a shadow row the writer committed meanwhile (and judged before the feedback
        # above was visible to it, as PostgreSQL's read committed allows) is judged here
        with write_transaction(self.engine) as conn:
            conn.execute(sa.update(predictions).where(predictions.c.shadow_of == prediction_id)
                         .values(feedback=label, feedback_at=now))
        prom.FEEDBACK.labels(found.model_version).inc()
        return self.get(prediction_id)  # type: ignore[return-value]

    # --- the writer -----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._write, name="prediction-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.flush()
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _write(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            rows = [first]
            while len(rows) < FLUSH_ROWS:
                try:
                    row = self._queue.get(timeout=FLUSH_SECONDS)
                except queue.Empty:
                    break
                if row is None:
                    self._queue.put(None)  # stop after this batch
                    break
                rows.append(row)
            try:
                with write_transaction(self.engine) as conn:
                    conn.execute(sa.insert(predictions), rows)
                if shadows := [r["id"] for r in rows if r["shadow_of"]]:  # after the insert is committed: with
                    # record_feedback's second pass, one of the two sees the other whatever the interleaving
                    with write_transaction(self.engine) as conn:
                        _judge_late_shadows(conn, shadows)
            except Exception:  # noqa: BLE001 - the answers went out; losing their log is counted and logged
                prom.UNLOGGED.inc(len(rows))
                log.exception("could not log %d predictions", len(rows))
            with self._written:
                self._done += len(rows)
                self._written.notify_all()


def _judge_late_shadows(conn: sa.Connection, ids: list[str]) -> None:
    """Shadow answers written after the feedback on the answer they shadowed (a shadow's batch
    can finish after the caller has its answer and replied): they take that feedback now."""
    parent = predictions.alias("parent")
    of = sa.select(parent.c.feedback).where(parent.c.id == predictions.c.shadow_of).scalar_subquery()
    at = sa.select(parent.c.feedback_at).where(parent.c.id == predictions.c.shadow_of).scalar_subquery()
    conn.execute(sa.update(predictions).where(predictions.c.id.in_(ids), predictions.c.feedback.is_(None))
                 .values(feedback=of, feedback_at=at))
