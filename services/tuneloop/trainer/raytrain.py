"""Starting Ray and running one TorchTrainer, cancellably, with progress flowing back.

Ray: `ensure_ray()` starts a local instance bound to loopback (the embedded default). The TorchTrainer's `fit()`
runs inside a Ray task that owns the run's controller and workers, so cancelling that
task (`ray.cancel(force=True)`) stops the whole run promptly. Rank 0 pushes progress
into a Ray queue that the service drains on a thread; a Ray Train callback adds an event
per persisted checkpoint.

A run is named by its job id under the job's storage folder (a local folder or S3: see
core.storage), so running the same job again (after a service restart, on any node)
resumes from its latest checkpoint instead of step 0. Before fitting, `wait_for_resources`
says what the run waits for when the cluster lacks the CPUs or GPUs its workers need.

This is the local path (the embedded default). With a remote cluster, `rayjobs` submits a
driver that calls the same `fit` there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import psutil
import ray

from tuneloop.trainer import groups
from tuneloop.trainer.loop import UNSCORED, LoopConfig

log = logging.getLogger(__name__)
_ray_lock = threading.Lock()
_MAX_RETRY_DELAY = 15.0
_LOCAL_STARTS = 2
_RAYLET_TIMEOUT = "timed out during startup"  # Ray's words when its raylet never registered
T = TypeVar("T")


def ensure_ray(address: str | None = None, *, timeout: float = 300, give_up: Callable[[], bool] = lambda: False) -> None:
    """Start a local Ray once per process (or connect to `address`).

    A local Ray is started from a thread that lives as long as the process: Ray's own
    processes are spawned with a parent-death signal, which Linux ties to the spawning
    *thread*, so starting them from a job's thread would kill the whole instance as
    soon as that job ended.
    """
    with _ray_lock:
        if ray.is_initialized():
            return
        deadline = time.monotonic() + timeout
        if address:
            retrying(lambda: _start_owned(address, max(deadline - time.monotonic(), 1.0)), address,
                     timeout=timeout, give_up=give_up)
        else:
            _start_local(deadline, give_up)


def _start_local(deadline: float, give_up: Callable[[], bool]) -> None:
    """Start the local instance, and once more if its raylet never registered: on a busy
    machine one start in a few dozen never brings its raylet up (Ray gives up after 30 s,
    with nothing in the raylet's logs), and a fresh start then works. The failed start's
    processes are stopped first: Ray leaves them to its reaper at exit."""
    for attempt in range(1, _LOCAL_STARTS + 1):
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        try:
            return _start_owned(None, max(deadline - time.monotonic(), 1.0))
        except Exception as exc:
            if _RAYLET_TIMEOUT not in str(exc) or attempt == _LOCAL_STARTS or give_up() \
                    or time.monotonic() >= deadline:
                raise
            log.warning("the local Ray did not start (%s); stopping what it started and starting it again", exc)
            _stop_new_children(before)


def retrying(connect: Callable[[], T], address: str, *, timeout: float, give_up: Callable[[], bool]) -> T:
    """`connect()`, retried with backoff while a configured cluster refuses the connection (a
    KubeRay head not up yet) until `timeout`; only then does the error reach the job. Between
    tries, `give_up()` (the job cancelled, the trainer stopping) ends the wait at once."""
    deadline = time.monotonic() + timeout
    delay = 1.0
    while True:
        try:
            return connect()
        except ConnectionError as exc:
            if not address or time.monotonic() + delay > deadline:
                raise
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]  # a traceback ends in its error
            log.warning("Ray at %s is not reachable (%s); retrying in %.0f s", address, reason, delay)
            retry_at = time.monotonic() + delay
            while time.monotonic() < retry_at:
                if give_up():
                    raise ConnectionError(f"gave up waiting for Ray at {address}") from exc
                time.sleep(min(0.5, max(retry_at - time.monotonic(), 0.0)))
            delay = min(delay * 2, _MAX_RETRY_DELAY)


def _stop_new_children(before: set[int]) -> None:
    """Kill this process's children that were not there before (a failed start's GCS,
    dashboard, monitor, raylet) and wait for them briefly."""
    ray.shutdown()
    fresh = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    for p in fresh:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(fresh, timeout=10)


def _start_owned(address: str | None, timeout: float) -> None:
    """Run `_init` on a thread that outlives this call (see `ensure_ray`)."""
    ready = threading.Event()
    failure: list[BaseException] = []

    def own() -> None:
        try:
            _init(address)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            failure.append(exc)
        ready.set()
        if not failure:
            threading.Event().wait()  # keep this thread (the parent of Ray's processes) alive

    threading.Thread(target=own, name="ray-owner", daemon=True).start()
    if not ready.wait(timeout):
        raise TimeoutError(f"Ray did not start within {timeout:.0f} s")
    if failure:
        raise failure[0]


class _ExpectedNotes(logging.Filter):
    """Drops two notes a local Ray prints at every start that are by design here: it is started
    from a thread (see `ensure_ray`), and on loopback with the token Ray made for itself."""

    NOTES = ("SIGTERM handler is not set because current thread", "Token authentication is enabled for this Ray")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOTES)


def _init(address: str | None) -> None:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    if address:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    else:
        for name in ("ray._private.worker", "ray._private.authentication.authentication_token_setup"):
            logging.getLogger(name).addFilter(_ExpectedNotes())
        ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", ignore_reinit_error=True,
                 log_to_driver=False, configure_logging=False)


@dataclass
class RunResult:
    best_checkpoint: str | None  # the checkpoint's folder URL in storage (model/ and state.pt)
    best_metrics: dict
    last_metrics: dict
    trials: list[dict] = field(default_factory=list)  # a sweep's trials (trainer.sweep.trial_record)
    best_trial: dict = field(default_factory=dict)  # a sweep's best: {"trial": id, "config": hyperparameters}


def _needs(workers: int, use_gpu: bool) -> dict[str, float]:
    return {"GPU": float(workers)} if use_gpu else {"CPU": float(workers)}


def wait_for_resources(workers: int, use_gpu: bool, progress, *, poll: float = 1.0, every: float = 10.0) -> None:
    """Block until the cluster has free what the workers need, saying so every `every` seconds:
    Ray Train would otherwise wait for its placement group without a word."""
    needs, last = _needs(workers, use_gpu), -every
    while True:
        free = ray.available_resources()
        short = {k: v for k, v in needs.items() if free.get(k, 0.0) < v}
        if not short:
            return
        if time.monotonic() - last >= every:
            kind = "GPU" if use_gpu else "CPU"
            message = (f"waiting for {workers} worker{'s' if workers > 1 else ''} with 1 {kind} each "
                       f"({free.get(kind, 0.0):g} {kind} free of {ray.cluster_resources().get(kind, 0.0):g})")
            log.info("%s", message)
            if progress is not None:
                progress.put({"type": "waiting", "message": message, "time": time.time()}, block=False)
            last = time.monotonic()
        time.sleep(poll)


def fit(config: LoopConfig, *, name: str, workers: int, use_gpu: bool, max_failures: int,
        callbacks: list | None = None, watcher: str = "") -> RunResult:
    """Build the TorchTrainer and fit it; checkpoints go to `config.storage_url`/ray/`name`
    (`callbacks`: more Ray Train callbacks, a sweep trial's report to Tune; `watcher`: the
    `groups.Watcher` that releases the run's placement group if it is killed, by default the
    job's own)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from tuneloop.core.storage import join, ray_storage
    from tuneloop.trainer.loop import train_loop

    wait_for_resources(workers, use_gpu, config.progress)
    storage_path, storage_fs = ray_storage(join(config.storage_url, "ray"))
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"loop": config},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        run_config=RunConfig(
            name=name, storage_path=storage_path, storage_filesystem=storage_fs,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2, checkpoint_score_attribute="val_score",
                                               checkpoint_score_order="max"),
            callbacks=[_checkpoint_events(config.progress), *(callbacks or []),
                       groups.release_callback(watcher or groups.watcher_name(name))],
        ),
    )
    result = trainer.fit()
    # a mid-epoch checkpoint is UNSCORED (not validated): never the best
    scored = [(c, m) for c, m in result.best_checkpoints if m.get("val_score", UNSCORED) > UNSCORED]
    if not scored:
        return RunResult(None, {}, dict(result.metrics or {}))
    best, metrics = max(scored, key=lambda cm: cm[1]["val_score"])
    scheme = config.storage_url.split("://", 1)[0] + "://" if storage_fs is not None else ""
    return RunResult(scheme + best.path, dict(metrics), dict(result.metrics or {}))


def _checkpoint_events(queue):
    """A Ray Train callback (it runs in Train's controller): one progress event per persisted
    checkpoint. Its class is defined here, not at module level, because subclassing
    `UserCallback` imports ray.train, which only the Ray task that fits needs: the trainer
    service that imports this module never pays for it."""
    from ray.train import UserCallback

    class CheckpointEvents(UserCallback):
        def after_report(self, run_context, metrics, checkpoint):
            if checkpoint is not None and queue is not None:
                queue.put({"type": "checkpoint_persisted", "path": checkpoint.path,
                           "step": metrics[0].get("step", 0) if metrics else 0}, block=False)

    return CheckpointEvents()


def progress_queue(name: str = ""):
    """The queue rank 0 sends progress to, pinned to this (the driver's) node, as Ray Train pins
    its controller: left to the scheduler it may land on a worker node, and losing that node
    would then fail the whole run instead of the workers resuming from their checkpoint. A
    sweep's is named (`sweep.queue_name`): Tune's pickled callback finds it by name."""
    from ray.util.queue import Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    named = {"name": name, "get_if_exists": True} if name else {}
    return Queue(maxsize=10_000, actor_options={"num_cpus": 0, "scheduling_strategy": here, **named})


class RunHandle:
    """A training run in flight: `wait()` for its result, `cancel()` to stop it."""

    def __init__(self, config: LoopConfig, *, name: str, workers: int, use_gpu: bool,
                 max_failures: int, on_progress: Callable[[dict], None], sweep: dict | None = None) -> None:
        from tuneloop.trainer.sweep import fit_sweep, queue_name

        self._queue = progress_queue(queue_name(name) if sweep else "")
        self._watcher = groups.start(name)  # owned here: it outlives a cancelled run's task
        config = replace(config, progress=self._queue)
        run = {"name": name, "workers": workers, "use_gpu": use_gpu, "max_failures": max_failures}
        if sweep:  # a Ray Tune sweep of Ray Train runs (trainer.sweep), in the same cancellable task
            self._ref = ray.remote(num_cpus=0, max_retries=0)(fit_sweep).remote(config, sweep=sweep, **run)
        else:
            self._ref = ray.remote(num_cpus=0, max_retries=0)(fit).remote(config, **run)
        self._on_progress = on_progress
        self._done = threading.Event()
        self._drainer = threading.Thread(target=self._drain, name=f"progress-{name}", daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        from ray.util.queue import Empty

        while not self._done.is_set():
            try:
                self._on_progress(self._queue.get(timeout=0.5))
            except Empty:
                continue
            except Exception:  # noqa: BLE001 - the queue actor went away with the run
                return

    def wait(self) -> RunResult:
        try:
            return ray.get(self._ref)
        finally:
            self._done.set()
            self._drainer.join(timeout=5)
            for event in self._leftovers():
                self._on_progress(event)
            ray.kill(self._queue.actor)
            groups.stop(self._watcher)

    def _leftovers(self) -> list[dict]:
        try:
            return self._queue.get_nowait_batch(self._queue.qsize())
        except Exception:  # noqa: BLE001 - nothing left, or the actor is gone
            return []

    def cancel(self) -> None:
        ray.cancel(self._ref, force=True, recursive=True)

    def release(self) -> None:
        """The trainer is stopping: a local run cannot outlive it, so it ends here (and resumes
        from its checkpoint when the trainer starts again)."""
        self.cancel()
