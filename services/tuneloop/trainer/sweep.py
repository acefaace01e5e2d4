"""A hyperparameter sweep on Ray Tune, each trial a Ray Train run (`raytrain.fit`).

`fit_sweep` runs where `raytrain.fit` runs (a Ray task on the local Ray, or the driver on a
remote cluster): a Tuner whose trainable is a small driver function (Tune's documented pattern
for Train V2) that fits one TorchTrainer with the trial's hyperparameters over the sweep's
fixed options. The trial's workers report each validated epoch to Tune (`_scored_reports`: the
mid-epoch checkpoints, which carry no score, are not Tune results), so ASHA compares trials at
equal epochs and stops the weak ones; the searcher is Optuna's, random or TPE. Both rank trials
by `RANK` (`ranked`): the validation score with ties broken by validation loss. After one epoch
on little data trials can predict one class and share the same macro-F1; ASHA stops a trial only
when it is strictly below its rung's cutoff, so on the raw score a tie at the cutoff kept every
tied trial going (a test shows it; the 12-trial bench, rerun, had no such ties). The best
checkpoint is still the best validation score.

Everything lives under the sweep job's storage: the Tune experiment at `tune/<job id>` and each
trial's Train run (checkpoints, TensorBoard) at `trials/<trial id>`. Running `fit_sweep` again
for the same job (the trainer restarted) restores the experiment with `Tuner.restore`: finished
trials stay finished, unfinished ones start again and their Train run resumes from its own last
checkpoint. A trial that fails is recorded with its error and the sweep goes on; only when no
trial produced a validated checkpoint does the sweep fail.

Progress reaches the trainer as events (`trial_started`, `trial_result`, `trial_ended`,
`trial_failed`) from a Tune callback. The callback is pickled into the experiment's state, so
it names the progress queue's actor instead of holding it: after a restore the new queue of the
same name receives the events.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from dataclasses import replace
from typing import Any

import ray

from tuneloop.core.storage import join, ray_storage
from tuneloop.ml import space as spaces
from tuneloop.trainer import groups
from tuneloop.trainer.loop import UNSCORED, LoopConfig
from tuneloop.trainer.raytrain import RunResult, fit

log = logging.getLogger(__name__)
METRIC = "val_score"
RANK = "sweep_rank"  # what the searcher and ASHA compare: METRIC, ties broken by validation loss
CHECKPOINT = "checkpoint_path"  # the key TuneReportCallback adds to a result with a checkpoint
DRIVER_MEMORY = 256 * 1024 * 1024  # a trial's driver function: a TorchTrainer's controller, no training


def queue_name(job_id: str) -> str:
    return f"tuneloop-progress-{job_id}"


def tune_space(space: spaces.Space) -> dict:
    from ray import tune

    make = {"loguniform": lambda p: tune.loguniform(*p.values), "uniform": lambda p: tune.uniform(*p.values),
            "randint": lambda p: tune.randint(p.values[0], p.values[1] + 1),  # Tune's upper bound is exclusive
            "choice": lambda p: tune.choice(list(p.values)), "constant": lambda p: p.values[0]}
    return {p.name: make[p.kind](p) for p in space.params if p.kind != "constant"}  # constants: the fixed spec


def _scored_reports():
    """Tune's TuneReportCallback, forwarding only validated reports (made inside the trial: the
    callback needs the trial's session)."""
    from ray.tune.integration.ray_train import TuneReportCallback

    class ScoredReports(TuneReportCallback):
        def after_report(self, run_context, metrics, checkpoint):
            if metrics and metrics[0].get(METRIC, UNSCORED) > UNSCORED:
                super().after_report(run_context, [ranked(metrics[0]), *metrics[1:]], checkpoint)

    return ScoredReports()


def ranked(metrics: dict) -> dict:
    """A validated report with its `RANK`: the score, less a millionth of the validation loss (a
    macro-F1 on a validation split moves in steps far above that, so only ties are reordered)."""
    loss = metrics.get("val_loss")
    penalty = 1e-6 * min(float(loss), 1e3) if _number(loss) else 0.0
    return {**metrics, RANK: float(metrics[METRIC]) - penalty}


def train_trial(hyperparameters: dict, *, config: LoopConfig, sweep_id: str, workers: int, use_gpu: bool,
                max_failures: int) -> None:
    """One trial: a Ray Train run of the sweep's spec with this trial's hyperparameters."""
    from ray import tune

    trial = tune.get_context().get_trial_id()
    spec = spaces.apply(config.spec, hyperparameters)
    trial_config = replace(config, spec=spec, storage_url=join(config.storage_url, "trials", trial), progress=None)
    fit(trial_config, name=trial, workers=workers, use_gpu=use_gpu, max_failures=max_failures,
        callbacks=[_scored_reports()], watcher=groups.watcher_name(sweep_id))


def _events(job_id: str, epochs: int):
    from ray.tune import Callback

    class TrialEvents(Callback):
        """Trial events to the job's progress queue (looked up by name: see the module's docstring)."""

        def __init__(self, name: str, epochs: int) -> None:
            self.name, self.epochs = name, epochs

        def _send(self, event: dict) -> None:
            try:
                ray.get_actor(self.name).put_nowait.remote(event)
            except Exception:  # noqa: BLE001 - nobody follows (a driver without a queue): the result still lands
                log.debug("no progress queue %s for %s", self.name, event.get("type"))

        def on_trial_start(self, iteration, trials, trial, **info):
            self._send({"type": "trial_started", "trial": trial.trial_id, "config": _plain(trial.config)})

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self._send({"type": "trial_result", "trial": trial.trial_id, "epoch": int(result.get("epoch", 0)),
                        **{k: float(v) for k, v in result.items() if k.startswith("val_") and _number(v)},
                        "seconds": float(result.get("time_total_s", 0.0))})

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._send({"type": "trial_ended", **trial_record(trial, self.epochs, ended=True)})

        def on_trial_error(self, iteration, trials, trial, **info):
            self._send({"type": "trial_failed", **trial_record(trial, self.epochs)})

    return TrialEvents(queue_name(job_id), epochs)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _plain(config: dict) -> dict:
    return {k: v.item() if hasattr(v, "item") else v for k, v in config.items()}


def trial_record(trial, epochs: int, *, ended: bool = False) -> dict:
    """What the job keeps of a trial (a ray.tune Trial): its outcome in plain values. A trial
    that ended before its epochs (its own, else the sweep's `epochs`) was stopped early (by
    ASHA): STOPPED. (`ended`: Tune calls on_trial_complete before it sets the status.)"""
    last = trial.last_result or {}
    scores = trial.metric_analysis.get(METRIC, {})
    ran = int(last.get("training_iteration", 0))
    state = "TERMINATED" if ended and trial.status != "ERROR" else trial.status
    if state == "TERMINATED" and ran < int(trial.config.get("epochs", epochs)):
        state = "STOPPED"
    error = ""
    if trial.status == "ERROR":
        lines = [line for line in str(trial.get_error() or "").splitlines() if line.strip()]
        error = lines[-1].strip() if lines else "the trial failed"  # the exception, not Ray's traceback
    return {"trial": trial.trial_id, "state": state, "config": _plain(trial.config),
            "best_score": float(scores.get("max", UNSCORED)) if scores else UNSCORED, "epochs": ran,
            "seconds": float(last.get("time_total_s", 0.0)), "error": str(error)[-2000:]}


def _searcher(sweep: dict):
    """Optuna's samplers for both: random (independent of results, so the same seed draws the same
    trials with or without ASHA) and TPE. (Tune's own BasicVariantGenerator, given an integer
    seed, re-seeds for every trial and drew one choice for all of them.)"""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    seed = int(sweep.get("seed", 0))
    sampler = optuna.samplers.TPESampler(seed=seed) if sweep.get("searcher") == "tpe" else \
        optuna.samplers.RandomSampler(seed=seed)
    return OptunaSearch(sampler=sampler)


def _scheduler(sweep: dict, max_epochs: int):
    if sweep.get("scheduler", "asha") == "none" or max_epochs < 2:
        return None
    from ray.tune.schedulers import ASHAScheduler

    # one Tune result per validated epoch; with grace period g and reduction factor f (2 by default)
    # a trial goes past g epochs only when it is in the top 1/f there, past g*f in the top 1/f of those
    # (docs/benchmarks.md); sweeps stored before either setting existed read as the defaults
    factor = int(sweep.get("reduction_factor") or spaces.REDUCTION_FACTOR)
    grace = int(sweep.get("grace_period") or spaces.GRACE_PERIOD)
    return ASHAScheduler(time_attr="training_iteration", max_t=max_epochs, grace_period=grace, reduction_factor=factor)


def fit_sweep(config: LoopConfig, *, name: str, workers: int, use_gpu: bool, max_failures: int, sweep: dict,
              trainable=None) -> RunResult:
    """Run (or resume) the sweep named `name` (its job id); the best trial's best checkpoint.
    `trainable` replaces the trial function (tests drive the search without training)."""
    from ray import tune

    # Tune saves the experiment's state at most every 10 s by default ("auto"); trials here last
    # minutes and the state is small, so saving every 2 s bounds what a trainer restart loses
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
    space = spaces.parse(sweep["space"], config.spec)
    config = replace(config, spec=spaces.apply(config.spec, space.constants()))
    storage_path, storage_fs = ray_storage(join(config.storage_url, "tune"))
    trial_fn = trainable or functools.partial(train_trial, config=config, sweep_id=name, workers=workers,
                                              use_gpu=use_gpu, max_failures=max_failures)
    # the trial is a driver function: its Train workers hold the CPUs (a trial holding one too would
    # leave a 2-core machine none to train on); Tune needs some resource to place it, so memory
    trial_fn = tune.with_resources(trial_fn, {"cpu": 0, "memory": DRIVER_MEMORY})
    experiment = f"{storage_path}/{name}"
    if tune.Tuner.can_restore(experiment, storage_filesystem=storage_fs):
        log.info("restoring sweep %s from %s", name, experiment)
        if config.progress is not None:
            config.progress.put({"type": "resumed", "message": "the sweep resumes its Tune experiment"}, block=False)
        tuner = tune.Tuner.restore(experiment, trainable=trial_fn, resume_unfinished=True, resume_errored=False,
                                   restart_errored=False, storage_filesystem=storage_fs)
    else:
        tuner = tune.Tuner(
            trial_fn, param_space=tune_space(space),
            tune_config=tune.TuneConfig(metric=RANK, mode="max", num_samples=int(sweep["trials"]),
                                        max_concurrent_trials=max(int(sweep.get("max_concurrent", 1)), 1),
                                        search_alg=_searcher(sweep),
                                        scheduler=_scheduler(sweep, space.max_epochs(config.spec))),
            run_config=tune.RunConfig(name=name, storage_path=storage_path, storage_filesystem=storage_fs,
                                      callbacks=[_events(name, config.spec.epochs)],
                                      failure_config=tune.FailureConfig(max_failures=0),
                                      verbose=0))
    grid = tuner.fit()
    scheme = config.storage_url.split("://", 1)[0] + "://" if storage_fs is not None else ""
    return best_of(grid, scheme, config.spec.epochs)


def best_of(grid, scheme: str, epochs: int) -> RunResult:
    """The sweep's result: the best validated checkpoint over every trial that produced one, with
    every trial's record; every trial failing is the sweep failing (with the first error)."""
    records, best = [], None
    for trial in grid._experiment_analysis.trials:  # Tune's Trial objects: status, config, results
        records.append(trial_record(trial, epochs))
    for result in grid:
        frame = result.metrics_dataframe
        if frame is None or frame.empty or CHECKPOINT not in frame or METRIC not in frame:
            continue
        scored = frame[frame[CHECKPOINT].notna() & (frame[METRIC] > UNSCORED)]
        if scored.empty:
            continue
        row = scored.loc[scored[METRIC].idxmax()]
        if best is None or row[METRIC] > best[0][METRIC]:
            best = (row, result)
    if best is None:
        failed = [r for r in records if r["state"] == "ERROR"]
        if failed and len(failed) == len(records):
            raise RuntimeError(f"all {len(records)} trials failed; the first: {failed[0]['error']}")
        return RunResult(None, {}, {}, trials=records)
    row, result = best
    values = {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}
    metrics = {k: v for k, v in values.items() if _number(v) or isinstance(v, str)}
    trial = str(result.metrics.get("trial_id", ""))
    return RunResult(scheme + str(row[CHECKPOINT]), metrics, dict(result.metrics or {}), trials=records,
                     best_trial={"trial": trial, "config": _plain(result.config or {})})
