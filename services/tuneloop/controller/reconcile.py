"""One reconcile pass: compare what the policies want with what exists, and take one step.

For each policy not paused, with no run in flight:
- a new dataset version after a promotion first gets a rollback check (the champion and the
  previous champion evaluated on it: if the previous one is significantly better, the
  aliases move back and the run ends ROLLED_BACK);
- a champion doing badly on live feedback (serving's window: under `live_min_accuracy`, or
  significantly under its offline test accuracy at `live_alpha`) has that feedback appended to
  the dataset, and a run starts on the version that makes;
- then a retraining run starts when the newest dataset version has at least `min_new_rows`
  rows more than the champion's, or drifts past `drift_threshold`, or when no champion
  exists yet, or when the schedule says so.
Each run in flight advances one step: PENDING submits the training job (keyed by the run
id, so a retried submit returns the same job), TRAINING follows it, EVALUATING compares the
candidate with the champion on the newest version's test split and promotes or rejects.
Promotion moves `champion` and `previous-champion` in one registry call; repeating it after
a crash moves nothing. Every step is safe to repeat: that is what makes the loop restartable.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from tuneloop.controller import metrics
from tuneloop.controller.policy import PolicySpec
from tuneloop.controller.records import Run, RunState, Trigger
from tuneloop.controller.store import ControllerStore
from tuneloop.core.names import split_ref
from tuneloop.errors import NotFound, TuneloopError
from tuneloop.ml.spec import GENERATION

log = logging.getLogger(__name__)
CHAMPION, PREVIOUS = "champion", "previous-champion"


class Reconciler:
    def __init__(self, store: ControllerStore, client, still_leader=lambda: True) -> None:
        self.store = store
        self.client = client  # a callable returning tuneloop.client.Client
        self.still_leader = still_leader  # renews the lease; False ends the pass at once

    def pass_once(self) -> None:
        for policy in self.store.policies():
            if not self.still_leader():
                return
            try:
                spec = PolicySpec(**policy.spec)
                active = self.store.runs(policy.name, active_only=True)
                if not active and not policy.paused:
                    self.fire_triggers(policy.name, spec)
                for run in self.store.runs(policy.name, active_only=True):
                    if not self.still_leader():
                        return
                    self.step(run, spec)
                self.publish(policy.name, spec)
            except TuneloopError as exc:  # a service is down or said no: try again next pass
                log.warning("policy %s: %s %s", policy.name, exc.status.name, exc.message)

    def publish(self, name: str, spec: PolicySpec) -> None:
        """Set the champion and last-success gauges from the store: at once on a promotion, and
        after every pass, so a new leader (or a restarted one) reports them before it decides
        anything itself and a rollback (by hand too) shows within a pass."""
        if promoted := self.store.last_decided(name, state=RunState.PROMOTED):
            metrics.LAST_SUCCESS.labels(name).set(promoted.finished.timestamp())
        if decided := self.store.last_decided(name):
            metrics.CHAMPION.labels(spec.model).set(_version(decided.champion_after))

    # -- triggers ----------------------------------------------------------------------
    def _alias(self, model: str, alias: str):
        try:
            return self.client().registry.get_version(f"{model}:{alias}")
        except NotFound:
            return None

    def fire_triggers(self, name: str, spec: PolicySpec) -> None:
        c = self.client()
        latest = c.dataprep.get_version(split_ref(spec.dataset)[0])
        dataset = f"{latest.dataset}@{latest.version}"
        champion = self._alias(spec.model, CHAMPION)
        now = datetime.now(UTC)
        if champion is None:
            self.store.create_run(name, key=f"data:{latest.version}", trigger=Trigger.INITIAL, dataset=dataset,
                                  data_seen_at=now)
            return
        if (spec.live_min_accuracy or spec.live_alpha) and self._live_run(name, spec, champion, now):
            return
        champ_dataset = champion.lineage.dataset
        if champ_dataset != dataset:
            previous = self._alias(spec.model, PREVIOUS)
            if previous is not None:
                run = self.store.create_run(name, key=f"rollback:{latest.version}", trigger=Trigger.ROLLBACK_CHECK,
                                            dataset=dataset, state=RunState.EVALUATING, candidate=_ref(previous),
                                            champion_before=_ref(champion))
                if run is not None:
                    return  # one step at a time: the check runs before any retraining on this version
            old_rows = c.dataprep.get_version(*split_ref(champ_dataset)).rows_out if "@" in champ_dataset else 0
            new_rows = latest.rows_out - old_rows
            drift = c.dataprep.report(latest.dataset, latest.version).drift.label_shift
            trigger = (Trigger.NEW_DATA if new_rows >= spec.min_new_rows
                       else Trigger.DRIFT if spec.drift_threshold and drift >= spec.drift_threshold else None)
            if trigger:
                self.store.create_run(name, key=f"data:{latest.version}", trigger=trigger, dataset=dataset,
                                      data_seen_at=now)
                return
        if spec.every_seconds:
            slot = int(time.time() // spec.every_seconds)
            self.store.create_run(name, key=f"schedule:{slot}", trigger=Trigger.SCHEDULE, dataset=dataset)

    def _live_run(self, name: str, spec: PolicySpec, champion, now: datetime) -> bool:
        """Whether the champion's live accuracy on feedback is too low (under the floor, or
        significantly under its offline test accuracy); if so, the feedback is appended to the
        dataset first and a run starts on the version that makes (once per champion and version)."""
        c, ref = self.client(), _ref(champion)
        try:
            baseline = c.evaluator.evaluate(ref, champion.lineage.dataset, "test").accuracy if spec.live_alpha else 0.0
            [live] = c.serving.live(ref, baseline_accuracy=baseline)
        except TuneloopError as exc:  # serving or the evaluator away: the other triggers still apply
            log.warning("policy %s: live performance of %s unknown (%s %s)", name, ref, exc.status.name, exc.message)
            return False
        if live.feedback < spec.live_min_feedback:
            return False
        low = spec.live_min_accuracy and live.accuracy < spec.live_min_accuracy
        below = spec.live_alpha and live.p_below_baseline < spec.live_alpha
        if not (low or below):
            return False
        appended = c.serving.append_feedback(spec.model)
        latest = c.dataprep.get_version(split_ref(spec.dataset)[0])
        log.info("policy %s: %s live accuracy %.3f on %d feedback rows (baseline %.3f, p %.3g); appended %s",
                 name, ref, live.accuracy, live.feedback, baseline, live.p_below_baseline,
                 [a.dataset_version for a in appended])
        run = self.store.create_run(name, key=f"live:{ref}:{latest.version}", trigger=Trigger.LIVE_PERFORMANCE,
                                    dataset=f"{latest.dataset}@{latest.version}", data_seen_at=now)
        return run is not None

    # -- steps -------------------------------------------------------------------------
    def step(self, run: Run, spec: PolicySpec) -> None:
        if run.state == RunState.PENDING:
            self._submit(run, spec)
        elif run.state == RunState.TRAINING:
            self._follow(run)
        elif run.state == RunState.EVALUATING:
            self._rollback_check(run, spec) if run.trigger == Trigger.ROLLBACK_CHECK else self._decide(run, spec)

    def _submit(self, run: Run, spec: PolicySpec) -> None:
        champion = self._alias(spec.model, CHAMPION)
        base = f"{spec.model}:{CHAMPION}" if spec.continue_from_champion and champion else spec.base_model
        job = self.client().trainer.submit(dataset=run.dataset, base_model=base, model=spec.model,
                                           idempotency_key=run.id, sweep=spec.sweep, **spec.train)
        self.store.advance(run, RunState.TRAINING, job=job.id, champion_before=_ref(champion) if champion else "")

    def _follow(self, run: Run) -> None:
        from tuneloop.client.trainer import state_name

        job = self.client().trainer.get(run.job)
        state = state_name(job.state)
        if state == "SUCCEEDED":
            self.store.advance(run, RunState.EVALUATING, candidate=job.model)
        elif state in ("FAILED", "CANCELLED"):
            self._finish(run, RunState.FAILED, error=f"training job {run.job} {state.lower()}: {job.error}")

    def _decide(self, run: Run, spec: PolicySpec) -> None:
        c = self.client()
        if run.champion_before:
            out = c.evaluator.compare(run.candidate, run.champion_before, run.dataset, "test",
                                      min_improvement=spec.min_improvement, alpha=spec.alpha,
                                      max_class_drop=spec.max_class_drop)
            verdict, reasons = out.verdict, list(out.reasons)
        else:
            rep = c.evaluator.evaluate(run.candidate, run.dataset, "test")
            verdict = "promote" if rep.score >= spec.min_f1 else "reject"
            metric = "ROUGE-L" if rep.task == GENERATION else "macro-F1"
            reasons = [f"first champion: test {metric} {rep.score:.4f} "
                       f"{'>=' if verdict == 'promote' else '<'} the floor {spec.min_f1:.4f}"]
        if verdict != "promote":
            self._finish(run, RunState.REJECTED, verdict=verdict, reasons=reasons, champion_after=run.champion_before)
            return
        targets = {CHAMPION: _version(run.candidate)}
        if run.champion_before:
            targets[PREVIOUS] = _version(run.champion_before)
        c.registry.set_aliases(spec.model, targets, actor=f"controller/{run.id}", reason="; ".join(reasons))
        if self._finish(run, RunState.PROMOTED, verdict=verdict, reasons=reasons, champion_after=run.candidate):
            self.publish(run.policy, spec)
            if run.data_seen_at:
                metrics.DATA_TO_PROMOTION.observe((datetime.now(UTC) - run.data_seen_at).total_seconds())
        self._score_champion(run.candidate, run.dataset)

    def _rollback_check(self, run: Run, spec: PolicySpec) -> None:
        """`candidate` holds the previous champion, `champion_before` the champion."""
        out = self.client().evaluator.compare(run.candidate, run.champion_before, run.dataset, "test",
                                              min_improvement=spec.min_improvement, alpha=spec.alpha,
                                              max_class_drop=1.0)
        if out.verdict != "promote":
            self._finish(run, RunState.REJECTED, verdict="keep", champion_after=run.champion_before,
                         reasons=["the champion is not significantly worse than the previous one", *out.reasons])
            return
        self.client().registry.set_aliases(spec.model, {CHAMPION: _version(run.candidate),
                                                        PREVIOUS: _version(run.champion_before)},
                                           actor=f"controller/{run.id}", reason="rollback: champion regressed")
        self._finish(run, RunState.ROLLED_BACK, verdict="rollback", champion_after=run.candidate, reasons=list(out.reasons))
        self._score_champion(run.candidate, run.dataset)

    def _score_champion(self, champion: str, dataset: str) -> None:
        """Ask for the new champion's (stored) report again: the evaluator then publishes its
        macro-F1 under the alias it holds now, for the dashboard's F1-by-alias panel."""
        self.client().evaluator.evaluate(champion, dataset, "test")

    def _finish(self, run: Run, state: RunState, **fields) -> bool:
        decided = state in (RunState.PROMOTED, RunState.REJECTED, RunState.ROLLED_BACK) and run.candidate
        report = self._report(run) if decided else None
        done = self.store.advance(run, state, report=report, **fields)
        if done:
            metrics.RUNS.labels(state.value).inc()
        return done

    def _report(self, run: Run) -> tuple[str, str] | None:
        """The decided run's report: its candidate on the run's dataset (`tuneloop.report`), made
        once the aliases have moved and stored with the decision. The decision stands without it:
        a failure is logged and counted, and GetRunReport then says there is none."""
        from tuneloop.report import gather, render

        try:
            return run.candidate, render(gather(self.client(), run.candidate, dataset=run.dataset))
        except Exception:  # a report must never block a decision
            metrics.REPORT_FAILURES.inc()
            log.exception("could not make the report of run %s (%s)", run.id, run.candidate)
            return None


def _ref(version) -> str:
    return f"{version.model}@{version.version}"


def _version(ref: str) -> int:
    return int(ref.rsplit("@", 1)[1])
