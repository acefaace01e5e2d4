"""Persisted training jobs: a state machine in SQL (states in `records`), and each job's
ordered progress events.

A transition is one conditional UPDATE (`... WHERE state IN allowed`), so two actors can
never both move a job: the loser sees False. A RUNNING job found at start-up belonged to
a trainer that died; `requeue_running` puts it back in the queue to resume.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from tuneloop.core.db import write_transaction
from tuneloop.core.schema import train_job_events, train_jobs
from tuneloop.errors import NotFound
from tuneloop.trainer.records import Job, JobEvent, State


def _job(r: sa.Row) -> Job:
    return Job(r.id, State(r.state), r.spec, r.dataset, r.base_model, r.result_model, r.metrics, r.error,
               r.tensorboard, r.attempts, r.cancel_requested, r.created_at, r.started_at, r.finished_at,
               r.ray_submission, r.ray_events, tuple(r.warnings or ()),
               r.sweep, tuple(r.trials or ()))


class JobStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(self, spec: dict, *, dataset: str, base_model: str, idempotency_key: str = "",
               sweep: dict | None = None) -> Job:
        """A new QUEUED job; with an idempotency key already used, that earlier job instead."""
        if idempotency_key and (earlier := self.by_key(idempotency_key)) is not None:
            return earlier
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(sa.insert(train_jobs).values(
                    id=job_id, state=State.QUEUED.value, spec=spec, dataset=dataset, base_model=base_model,
                    result_model="", metrics={}, error="", tensorboard="", attempts=0, cancel_requested=False,
                    created_at=datetime.now(UTC), idempotency_key=idempotency_key or None, sweep=sweep))
                self._event(conn, job_id, "state", {"state": State.QUEUED.value})
        except sa.exc.IntegrityError:
            if idempotency_key and (earlier := self.by_key(idempotency_key)) is not None:
                return earlier  # a parallel submit with the same key won
            raise
        return self.get(job_id)

    def by_key(self, idempotency_key: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(train_jobs).where(train_jobs.c.idempotency_key == idempotency_key)).first()
        return _job(row) if row is not None else None

    def get(self, job_id: str) -> Job:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(train_jobs).where(train_jobs.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"job {job_id!r} not found")
        return _job(row)

    def list(self, *, limit: int, offset: int, states: list[State] | None = None) -> list[Job]:
        query = sa.select(train_jobs).order_by(train_jobs.c.created_at.desc(), train_jobs.c.id)
        if states:
            query = query.where(train_jobs.c.state.in_([s.value for s in states]))
        with self.engine.connect() as conn:
            return [_job(r) for r in conn.execute(query.limit(limit).offset(offset))]

    def queued(self) -> list[Job]:
        query = sa.select(train_jobs).where(train_jobs.c.state == State.QUEUED.value).order_by(train_jobs.c.created_at)
        with self.engine.connect() as conn:
            return [_job(r) for r in conn.execute(query)]

    def count_by_state(self) -> dict[str, int]:
        query = sa.select(train_jobs.c.state, sa.func.count()).group_by(train_jobs.c.state)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).all())

    def transition(self, job_id: str, to: State, *, allowed: tuple[State, ...], **fields) -> bool:
        """Move `job_id` to `to` if it is in one of `allowed`; record the event. False if not."""
        now = datetime.now(UTC)
        values = {"state": to.value, **fields}
        if to == State.RUNNING:
            values |= {"started_at": now, "attempts": train_jobs.c.attempts + 1}
        if to.final:
            values["finished_at"] = now
        with write_transaction(self.engine) as conn:
            done = conn.execute(sa.update(train_jobs).where(
                train_jobs.c.id == job_id, train_jobs.c.state.in_([s.value for s in allowed])).values(**values))
            if done.rowcount != 1:
                return False
            data = {"state": to.value} | ({"error": fields["error"]} if fields.get("error") else {})
            self._event(conn, job_id, "state", data)
        return True

    def update(self, job_id: str, **fields) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(sa.update(train_jobs).where(train_jobs.c.id == job_id).values(**fields))

    def request_cancel(self, job_id: str) -> Job:
        with write_transaction(self.engine) as conn:
            conn.execute(sa.update(train_jobs).where(train_jobs.c.id == job_id).values(cancel_requested=True))
        return self.get(job_id)

    def requeue_running(self) -> list[str]:
        """Jobs a dead trainer left RUNNING go back to the queue (to resume from their checkpoint)."""
        ids = [j.id for j in self.list(limit=10_000, offset=0, states=[State.RUNNING])]
        for job_id in ids:
            self.transition(job_id, State.QUEUED, allowed=(State.RUNNING,))
        return ids

    # -- events ------------------------------------------------------------------------
    def _event(self, conn: sa.Connection, job_id: str, type_: str, data: dict) -> None:
        conn.execute(sa.insert(train_job_events).values(job_id=job_id, type=type_, data=data, at=datetime.now(UTC)))

    def add_event(self, job_id: str, type_: str, data: dict) -> None:
        with write_transaction(self.engine) as conn:
            self._event(conn, job_id, type_, data)

    def events_after(self, job_id: str, after_id: int, limit: int = 500) -> list[JobEvent]:
        query = (sa.select(train_job_events).where(train_job_events.c.job_id == job_id,
                                                   train_job_events.c.id > after_id)
                 .order_by(train_job_events.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [JobEvent(r.id, r.job_id, r.type, r.data, r.at) for r in conn.execute(query)]
