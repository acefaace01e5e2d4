"""The controller's use cases (policies, runs, manual trigger and rollback, watching) and
its loop: a thread that, while this replica holds the leader lease, runs a reconcile pass
every `poll_seconds`, or at once when something changes: a call to this replica, or an
event on the registry's `WatchEvents` stream (a new version, an alias moved by anyone),
which a second thread follows. A third thread renews the lease every third of its term, so
a step longer than the term (a slow evaluation) does not hand leadership over mid-step.
A replica without the lease only renews its claim, so any number of replicas can run and
exactly one acts.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import sqlalchemy as sa

from tuneloop.controller import metrics
from tuneloop.controller.policy import make_policy
from tuneloop.controller.reconcile import CHAMPION, PREVIOUS, Reconciler
from tuneloop.controller.records import FINAL, Policy, Run, RunState, Trigger
from tuneloop.controller.store import ControllerStore
from tuneloop.core.names import check_name
from tuneloop.core.settings import ControllerSettings
from tuneloop.core.streams import follow_log
from tuneloop.errors import FailedPrecondition, InvalidArgument, NotFound, TuneloopError, about

log = logging.getLogger(__name__)
LEASE = "controller"


class ControllerCore:
    def __init__(self, store: ControllerStore, client: Callable, settings: ControllerSettings) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.reconciler = Reconciler(store, client, still_leader=self._renew)
        self.identity = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.changed = threading.Condition()
        self._woken = False  # a wake() the loop has not acted on yet (one may come mid-pass)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._events = None  # the open registry event stream, cancelled at stop
        self.is_leader = False

    # -- policies ----------------------------------------------------------------------
    def create_policy(self, name: str, spec: dict) -> Policy:
        check_name(name, what="policy name")
        policy = make_policy(**spec)
        check_name(policy.model, what="model name")
        self._check_inputs(policy.dataset, policy.base_model)
        created = self.store.create_policy(name, policy.model_dump())
        self.wake()
        return created

    def _check_inputs(self, dataset: str, base_model: str) -> None:
        """An unknown dataset or base model is NOT_FOUND now, not a run failing later."""
        client = self.client()
        with about(f"dataset {dataset}"):
            client.dataprep.get_dataset(dataset.split("@")[0])
        with about(f"base model {base_model}"):
            client.registry.get_version(base_model)

    def policies(self) -> list[Policy]:
        return self.store.policies()

    def set_paused(self, name: str, paused: bool) -> Policy:
        policy = self.store.set_paused(name, paused)
        self.wake()
        return policy

    def trigger(self, name: str) -> Run:
        """Start a run now on the newest dataset version (unless one is in flight)."""
        policy = self.store.policy(name)
        if self.store.runs(name, active_only=True):
            raise FailedPrecondition(f"policy {name!r} already has a run in flight")
        latest = self.client().dataprep.get_version(policy.spec["dataset"].split("@")[0])
        run = self.store.create_run(name, key=f"manual:{uuid.uuid4().hex}", trigger=Trigger.MANUAL,
                                    dataset=f"{latest.dataset}@{latest.version}")
        self.wake()
        return run

    def rollback(self, name: str) -> Run:
        """Point `champion` back at `previous-champion` now, and record it as a ROLLED_BACK run."""
        policy = self.store.policy(name)
        model = policy.spec["model"]
        registry = self.client().registry
        aliases = dict(registry.get_model(model).aliases)
        if PREVIOUS not in aliases or CHAMPION not in aliases:
            raise FailedPrecondition(f"model {model!r} has no {CHAMPION} and {PREVIOUS} to roll back between")
        champion, previous = aliases[CHAMPION], aliases[PREVIOUS]
        registry.set_aliases(model, {CHAMPION: previous, PREVIOUS: champion}, actor="controller/manual",
                             reason="manual rollback")
        run = self.store.create_run(name, key=f"rollback:manual:{uuid.uuid4().hex}", trigger=Trigger.MANUAL_ROLLBACK,
                                    dataset="", state=RunState.ROLLED_BACK, candidate=f"{model}@{previous}",
                                    champion_before=f"{model}@{champion}", champion_after=f"{model}@{previous}",
                                    verdict="rollback", reasons=["rolled back by hand"])
        metrics.RUNS.labels(RunState.ROLLED_BACK.value).inc()
        return run

    def report(self, run_id: str) -> tuple[str, str]:
        """(the model reported on, the HTML page) of a decided run."""
        run = self.store.run(run_id)  # NotFound for an unknown run
        found = self.store.report(run_id)
        if found is None:
            raise NotFound(f"run {run_id} ({run.trigger.value}, {run.state.value}) has no report: " + (
                "reports are made when a run is decided" if run.state not in FINAL else
                "reports are made for the runs the controller decides on a candidate (and if making one failed, "
                "the controller's log says why)"))
        return found

    def runs(self, name: str) -> list[Run]:
        self.store.policy(name)
        return self.store.runs(name)

    def watch(self, after_id: int = 0, *, policy: str = "", follow: bool = True,
              active: Callable[[], bool] = lambda: True) -> Iterator[tuple[int, Run]]:
        """Every run state change after `after_id` (the run with the state it changed to)."""
        if after_id < 0:
            raise InvalidArgument("after_id must not be negative")
        events = follow_log(lambda cursor: self.store.events_after(cursor, policy), lambda e: e.id, after=after_id,
                            follow=follow, active=active, changed=self.changed,
                            poll_seconds=self.settings.poll_seconds)
        for event in events:
            yield event.id, replace(self.store.run(event.run_id), state=event.state)  # the run as of this event

    # -- the loop ----------------------------------------------------------------------
    def wake(self) -> None:
        """Ask for a reconcile pass now (or right after the one running)."""
        with self.changed:
            self._woken = True
            self.changed.notify_all()

    def _notify_watchers(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def start(self) -> None:
        if not self.settings.enabled:
            return
        self._threads = [threading.Thread(target=self._loop, name="controller-loop", daemon=True),
                         threading.Thread(target=self._follow_registry, name="controller-events", daemon=True),
                         threading.Thread(target=self._heartbeat, name="controller-lease", daemon=True)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        if self._events is not None:
            self._events.cancel()
        for thread in self._threads:
            thread.join(timeout=30)
        if self.is_leader:
            try:
                self.store.release(LEASE, self.identity)
            except sa.exc.SQLAlchemyError:
                # best effort at shutdown: the lease expires by itself after lease_seconds
                log.warning("could not release the leader lease; it expires in %.0f s",
                            self.settings.lease_seconds, exc_info=True)

    def _renew(self) -> bool:
        """Take or renew the lease; a replica that cannot reach the store does not lead."""
        try:
            self.is_leader = not self._stop.is_set() and self.store.acquire(LEASE, self.identity,
                                                                              self.settings.lease_seconds)
        except sa.exc.SQLAlchemyError:
            self.is_leader = False
            log.warning("could not renew the leader lease", exc_info=True)
        metrics.LEADER.set(1 if self.is_leader else 0)
        return self.is_leader

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.lease_seconds / 3):
            self._renew()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._renew():
                    self.reconciler.pass_once()
                    self._notify_watchers()  # let WatchRuns streams see what this pass did
            except Exception:  # noqa: BLE001 - logged; the next pass retries
                log.exception("reconcile pass failed")
            with self.changed:
                if not self._woken:
                    self.changed.wait(self.settings.poll_seconds)
                self._woken = False

    def _follow_registry(self) -> None:
        """Wake the loop on every registry event; reconnect (from the last event seen) when the stream breaks."""
        after = 0
        while not self._stop.is_set():
            try:
                self._events = self.client().registry.watch_events(after, follow=True)
                if self._stop.is_set():  # stop() may have looked before the stream existed
                    self._events.cancel()
                for response in self._events:
                    after = response.event.id
                    self.wake()
            except TuneloopError as exc:
                if self._stop.is_set():
                    return
                log.info("registry event stream ended (%s); polling until it is back", exc.status.name)
            self._stop.wait(self.settings.poll_seconds)
