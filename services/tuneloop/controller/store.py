"""Policies, runs and run events in SQL, and the lease that makes one controller the leader.

A run's `key` says what started it (a dataset version, a schedule slot, a manual request):
one run per (policy, key), so a trigger that fires twice starts one run. Run updates are
conditional on the state the caller saw, so a stale step can never overwrite a newer one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tuneloop.controller.records import FINAL, Policy, Run, RunEvent, RunState, Trigger
from tuneloop.core.db import write_transaction
from tuneloop.core.schema import leases, policies, policy_runs, run_events, run_reports
from tuneloop.errors import AlreadyExists, NotFound


def _run(r: sa.Row) -> Run:
    return Run(r.id, r.policy, r.key, Trigger(r.trigger), RunState(r.state), r.dataset, r.job, r.candidate,
               r.champion_before, r.champion_after, r.verdict, r.reasons, r.error, r.data_seen_at, r.started,
               r.finished)


class ControllerStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- policies ----------------------------------------------------------------------
    def create_policy(self, name: str, spec: dict) -> Policy:
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(sa.insert(policies).values(name=name, spec=spec, paused=False,
                                                        created_at=datetime.now(UTC)))
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"policy {name!r} already exists") from exc
        return self.policy(name)

    def policy(self, name: str) -> Policy:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(policies).where(policies.c.name == name)).first()
        if r is None:
            raise NotFound(f"policy {name!r} not found")
        return Policy(r.name, r.spec, r.paused, r.created_at)

    def policies(self) -> list[Policy]:
        with self.engine.connect() as conn:
            names = conn.execute(sa.select(policies.c.name).order_by(policies.c.name)).scalars().all()
        return [self.policy(n) for n in names]

    def set_paused(self, name: str, paused: bool) -> Policy:
        self.policy(name)
        with write_transaction(self.engine) as conn:
            conn.execute(sa.update(policies).where(policies.c.name == name).values(paused=paused))
        return self.policy(name)

    # -- runs --------------------------------------------------------------------------
    def create_run(self, policy: str, *, key: str, trigger: Trigger | str, dataset: str,
                   state: RunState | str = RunState.PENDING, data_seen_at: datetime | None = None, **fields) -> Run | None:
        """A new run, or None when this (policy, key) already has one."""
        run_id, state = f"run-{uuid.uuid4().hex[:12]}", RunState(state)  # a state's name is taken too
        values = dict(id=run_id, policy=policy, key=key, trigger=Trigger(trigger).value, state=state.value,
                      dataset=dataset,
                      job="",
                      candidate="", champion_before="", champion_after="", verdict="", reasons=[], error="",
                      data_seen_at=data_seen_at, started=datetime.now(UTC)) | fields
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(sa.insert(policy_runs).values(**values))
                self._event(conn, run_id, policy, state)
        except sa.exc.IntegrityError:
            return None
        return self.run(run_id)

    def run(self, run_id: str) -> Run:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(policy_runs).where(policy_runs.c.id == run_id)).first()
        if r is None:
            raise NotFound(f"run {run_id!r} not found")
        return _run(r)

    def runs(self, policy: str | None = None, *, active_only: bool = False) -> list[Run]:
        q = sa.select(policy_runs).order_by(policy_runs.c.started, policy_runs.c.id)
        if policy:
            q = q.where(policy_runs.c.policy == policy)
        if active_only:
            q = q.where(policy_runs.c.state.not_in([s.value for s in FINAL]))
        with self.engine.connect() as conn:
            return [_run(r) for r in conn.execute(q)]

    def last_decided(self, policy: str, *, state: RunState | None = None) -> Run | None:
        """The latest finished run of `policy` that names the champion after it (of `state`, if given)."""
        q = (sa.select(policy_runs)
             .where(policy_runs.c.policy == policy, policy_runs.c.finished.is_not(None),
                    policy_runs.c.champion_after != "")
             .order_by(policy_runs.c.finished.desc()).limit(1))
        if state:
            q = q.where(policy_runs.c.state == state.value)
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return _run(r) if r is not None else None

    def advance(self, run: Run, state: RunState | str, *, report: tuple[str, str] | None = None, **fields) -> bool:
        """Move `run` from the state it was read in to `state`; False when someone moved it first.
        `report` (the model reported on, the page) is stored in the same transaction: whoever sees
        the run decided can fetch its report."""
        state = RunState(state)
        values = {"state": state.value, **fields}
        if state.final:
            values["finished"] = datetime.now(UTC)
        with write_transaction(self.engine) as conn:
            done = conn.execute(sa.update(policy_runs).where(policy_runs.c.id == run.id,
                                                             policy_runs.c.state == run.state.value).values(**values))
            if done.rowcount != 1:
                return False
            if state != run.state:
                self._event(conn, run.id, run.policy, state)
            if report is not None:
                conn.execute(sa.delete(run_reports).where(run_reports.c.run_id == run.id))
                conn.execute(sa.insert(run_reports).values(run_id=run.id, model=report[0], html=report[1],
                                                           created_at=datetime.now(UTC)))
        return True

    # -- reports -----------------------------------------------------------------------
    def report(self, run_id: str) -> tuple[str, str] | None:
        """(the model reported on, the page), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(run_reports.c.model, run_reports.c.html)
                               .where(run_reports.c.run_id == run_id)).first()
        return (row.model, row.html) if row is not None else None

    def _event(self, conn: sa.Connection, run_id: str, policy: str, state: RunState) -> None:
        conn.execute(sa.insert(run_events).values(run=run_id, policy=policy, state=state.value, at=datetime.now(UTC)))

    def entered(self, run_id: str, state: RunState) -> datetime | None:
        """When the run entered `state` (None if it never did)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(run_events.c.at).where(  # the column's type: a datetime with its zone
                run_events.c.run == run_id, run_events.c.state == state.value).order_by(run_events.c.id).limit(1)).scalar()

    def events_after(self, after_id: int, policy: str = "", limit: int = 500) -> list[RunEvent]:
        q = sa.select(run_events).where(run_events.c.id > after_id).order_by(run_events.c.id).limit(limit)
        if policy:
            q = q.where(run_events.c.policy == policy)
        with self.engine.connect() as conn:
            return [RunEvent(r.id, r.run, r.policy, RunState(r.state)) for r in conn.execute(q)]

    # -- the leader lease --------------------------------------------------------------
    def acquire(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease `name` for `holder` if free, expired or already ours."""
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=ttl)
        try:
            with write_transaction(self.engine) as conn:
                row = conn.execute(sa.select(leases).where(leases.c.name == name)).first()
                if row is None:
                    conn.execute(sa.insert(leases).values(name=name, holder=holder, expires_at=expires))
                    return True
                if row.holder != holder and row.expires_at > now:
                    return False
                done = conn.execute(sa.update(leases).where(leases.c.name == name, leases.c.holder == row.holder,
                                                            leases.c.expires_at == row.expires_at)
                                    .values(holder=holder, expires_at=expires))
                return done.rowcount == 1  # 0: another replica took it between our read and write
        except sa.exc.IntegrityError:
            return False  # another replica inserted it first

    def release(self, name: str, holder: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(sa.update(leases).where(leases.c.name == name, leases.c.holder == holder)
                         .values(expires_at=datetime.now(UTC)))
