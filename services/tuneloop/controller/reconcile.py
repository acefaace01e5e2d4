"""One reconcile pass: compare what the policies want with what exists, and take one step.

For each policy not paused, with no run in flight:
- a champion doing badly on live feedback (serving's window: under `live_min_accuracy`, or
  significantly under its offline test accuracy at `live_alpha`) has that feedback appended to
  the dataset; then, if the previous champion did significantly better on its own live
  feedback, a rollback check runs first, else a retraining run starts on the new version;
- a new dataset version after a promotion first gets a rollback check (the champion and the
  previous champion evaluated on it; with live checks, their live feedback too: if the
  previous one is significantly better on either, the aliases move back and the run ends
  ROLLED_BACK);
- then a retraining run starts when the newest dataset version has at least `min_new_rows`
  rows more than the champion's, or drifts past `drift_threshold`, or when no champion
  exists yet, or when the schedule says so.
Each run in flight advances one step: PENDING submits the training job (keyed by the run
id, so a retried submit returns the same job), TRAINING follows it, EVALUATING compares the
candidate with the champion on the newest version's test split and promotes or rejects; with
a shadow period, a candidate that passed becomes the model's `shadow` (SHADOWING) and is
promoted once it has shadowed `shadow_requests` requests for `shadow_seconds` (and
`shadow_min_feedback` of them have feedback), unless its
accuracy on their feedback is more than `shadow_max_drop` below the champion's on the same ones.
Promotion moves `champion` and `previous-champion` in one registry call; repeating it after
a crash moves nothing. Every step is safe to repeat: that is what makes the loop restartable.
"""

from __future__ import annotations

import contextlib
import logging
import math
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
CHAMPION, PREVIOUS, SHADOW = "champion", "previous-champion", "shadow"


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
        previous = self._alias(spec.model, PREVIOUS)
        if previous is not None and self._live_regressed(ref, _ref(previous), spec):
            # the previous champion did better on live feedback: check a rollback before retraining
            run = self.store.create_run(name, key=f"rollback:live:{ref}", trigger=Trigger.ROLLBACK_CHECK,
                                        dataset=f"{latest.dataset}@{latest.version}", state=RunState.EVALUATING,
                                        candidate=_ref(previous), champion_before=ref)
            if run is not None:
                return True
        log.info("policy %s: %s live accuracy %.3f on %d feedback rows (baseline %.3f, p %.3g); appended %s",
                 name, ref, live.accuracy, live.feedback, baseline, live.p_below_baseline,
                 [a.dataset_version for a in appended])
        run = self.store.create_run(name, key=f"live:{ref}:{latest.version}", trigger=Trigger.LIVE_PERFORMANCE,
                                    dataset=f"{latest.dataset}@{latest.version}", data_seen_at=now)
        return run is not None

    def _live_regressed(self, champion: str, previous: str, spec: PolicySpec) -> str | None:
        """Why the champion regressed on live feedback against the previous champion (in its
        time as champion): significantly fewer right answers (one-sided two-proportion z-test at
        `alpha`, both windows holding `live_min_feedback` rows); None when it did not, or when
        the policy has no live checks or serving cannot say."""
        if not (spec.live_min_accuracy or spec.live_alpha):
            return None
        try:
            [now], [before] = self.client().serving.live(champion), self.client().serving.live(previous)
        except TuneloopError as exc:
            log.warning("live feedback of %s and %s unknown (%s %s)", champion, previous, exc.status.name, exc.message)
            return None
        if min(now.feedback, before.feedback) < spec.live_min_feedback or before.accuracy <= now.accuracy:
            return None
        p = _worse_p(before.correct, before.feedback, now.correct, now.feedback)
        if p >= spec.alpha:
            return None
        return (f"live feedback: {previous} was right on {before.accuracy:.3f} of {before.feedback} rows, "
                f"{champion} on {now.accuracy:.3f} of {now.feedback} (one-sided p = {p:.3g} < {spec.alpha})")

    # -- steps -------------------------------------------------------------------------
    def step(self, run: Run, spec: PolicySpec) -> None:
        if run.state == RunState.PENDING:
            self._submit(run, spec)
        elif run.state == RunState.TRAINING:
            self._follow(run)
        elif run.state == RunState.EVALUATING:
            self._rollback_check(run, spec) if run.trigger == Trigger.ROLLBACK_CHECK else self._decide(run, spec)
        elif run.state == RunState.SHADOWING:
            self._shadow(run, spec)

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
        if run.champion_before and (spec.shadow_requests or spec.shadow_seconds):
            c.registry.set_aliases(spec.model, {SHADOW: _version(run.candidate)}, actor=f"controller/{run.id}",
                                   reason="shadow period before promotion")
            self.store.advance(run, RunState.SHADOWING, verdict=verdict, reasons=reasons)
            return
        self._promote(run, spec, verdict, reasons)

    def _shadow(self, run: Run, spec: PolicySpec) -> None:
        """A candidate in its shadow period: once it has shadowed `shadow_requests` requests for
        `shadow_seconds` and `shadow_min_feedback` of them have feedback, it is promoted unless its
        accuracy on that feedback is more than `shadow_max_drop` below the champion's on the same
        requests."""
        c = self.client()
        [live] = c.serving.live(run.candidate)
        since = self.store.entered(run.id, RunState.SHADOWING) or datetime.now(UTC)
        elapsed = (datetime.now(UTC) - since).total_seconds()
        if live.shadowed < spec.shadow_requests or elapsed < spec.shadow_seconds \
                or live.feedback < spec.shadow_min_feedback:
            return
        summary = (f"shadow period: {live.shadowed} requests in {elapsed:.0f} s, agreement {live.agreement:.3f}; "
                   f"on {live.feedback} feedback rows accuracy {live.accuracy:.3f} vs the champion's "
                   f"{live.champion_accuracy:.3f}")
        reasons = [*run.reasons, summary]
        with contextlib.suppress(NotFound):  # gone already: a repeated step, or someone removed it
            c.registry.delete_alias(spec.model, SHADOW, actor=f"controller/{run.id}")
        if live.feedback and live.accuracy < live.champion_accuracy - spec.shadow_max_drop:
            self._finish(run, RunState.REJECTED, verdict="reject", champion_after=run.champion_before,
                         reasons=[*reasons, f"worse than the champion on live feedback by more than "
                                            f"{spec.shadow_max_drop:.3f}"])
            return
        self._promote(run, spec, run.verdict, reasons)

    def _promote(self, run: Run, spec: PolicySpec, verdict: str, reasons: list[str]) -> None:
        c = self.client()
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
        live = self._live_regressed(run.champion_before, run.candidate, spec)
        if out.verdict != "promote" and live is None:
            self._finish(run, RunState.REJECTED, verdict="keep", champion_after=run.champion_before,
                         reasons=["the champion is not significantly worse than the previous one", *out.reasons])
            return
        self.client().registry.set_aliases(spec.model, {CHAMPION: _version(run.candidate),
                                                        PREVIOUS: _version(run.champion_before)},
                                           actor=f"controller/{run.id}", reason="rollback: champion regressed")
        reasons = [live, *out.reasons] if live else list(out.reasons)
        self._finish(run, RunState.ROLLED_BACK, verdict="rollback", champion_after=run.candidate, reasons=reasons)
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


def _worse_p(right_a: int, n_a: int, right_b: int, n_b: int) -> float:
    """One-sided p-value that proportion b is below proportion a by chance (pooled z-test)."""
    pooled = (right_a + right_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0:
        return 1.0 if right_a / n_a == right_b / n_b else 0.0
    z = (right_a / n_a - right_b / n_b) / spread
    return 0.5 * math.erfc(z / math.sqrt(2))


def _ref(version) -> str:
    return f"{version.model}@{version.version}"


def _version(ref: str) -> int:
    return int(ref.rsplit("@", 1)[1])
