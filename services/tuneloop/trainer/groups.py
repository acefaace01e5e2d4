"""Placement groups that outlive their Ray Train controller, removed.

A Train run reserves its workers' CPUs (or GPUs) in a placement group, and a placement group lives
as long as the Ray job that made it: on the embedded Ray that job is the trainer itself. When the
run's controller is killed instead of finishing (a cancelled job's task, a sweep trial that ASHA
stops: Tune ends it by killing its actor, and the controller dies with it) the group stays and
its CPUs stay reserved: the next run waits for them forever. Ray Train's own cleaner asks the
state API whether the controller lives, which needs the dashboard the embedded Ray runs without.

`Watcher` asks the controller itself (`__ray_ready__`) and removes the group of a dead one. The
process that outlives the runs starts it (`start`, named per job: the trainer's RunHandle, or the
driver on a remote cluster); each run's controller registers its group with it (`release_callback`,
a Ray Train callback) and finds it by name; no watcher (a run started by other code) is no harm.
"""

from __future__ import annotations

import logging
import threading
import time

import ray

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_concurrency=4)
class Watcher:
    def __init__(self) -> None:
        self.watched: list = []  # (controller actor handle, placement group)
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def add(self, controller, group) -> None:
        with self.lock:
            self.watched.append((controller, group))

    def _pass(self) -> int:
        """Check every group once; how many are still watched."""
        from ray.util.placement_group import placement_group_table, remove_placement_group

        with self.lock:
            watched = list(self.watched)
        for controller, group in watched:
            done = placement_group_table(group).get("state") == "REMOVED"
            if not done:
                try:
                    ray.get(controller.__ray_ready__.remote(), timeout=10)
                except ray.exceptions.RayActorError:
                    remove_placement_group(group)
                    done = True
                except ray.exceptions.GetTimeoutError:
                    pass  # busy, not dead
            if done:
                with self.lock:
                    self.watched.remove((controller, group))
        with self.lock:
            return len(self.watched)

    def watch(self, every: float = 1.0) -> None:
        while not self.stopping.wait(every):
            self._pass()

    def drain(self, timeout: float) -> int:
        """After the runs ended: check until every group is released or `timeout`; how many are left."""
        deadline = time.monotonic() + timeout
        while (left := self._pass()) and time.monotonic() < deadline:
            time.sleep(0.5)
        self.stopping.set()
        return left


def watcher_name(job_id: str) -> str:
    return f"tuneloop-placement-groups-{job_id}"


def start(job_id: str):
    """The job's watcher, watching: an actor owned by the caller and pinned to the caller's node (a
    worker node can be lost mid-run: a watcher there would go with it)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    watcher = Watcher.options(name=watcher_name(job_id), get_if_exists=True,  # type: ignore[attr-defined]
                              scheduling_strategy=here).remote()
    watcher.watch.remote()
    return watcher


def stop(watcher, timeout: float = 30.0) -> None:
    """Release what the job's runs left, then end the watcher. Best effort: the job's outcome
    stands whatever happens here (a failure is logged)."""
    try:
        left = ray.get(watcher.drain.remote(timeout), timeout=timeout + 15)
        if left:
            log.warning("%d placement group(s) of ended runs are still reserved", left)
    except Exception:  # noqa: BLE001 - cleanup after the result; never the job's failure
        log.warning("could not release the placement groups of ended runs", exc_info=True)
    finally:
        ray.kill(watcher)


def release_callback(name: str):
    """A Ray Train callback (it runs on the controller) registering the worker group's placement
    group with watcher `name`, if there is one."""
    from ray.train.v2._internal.execution.callback import WorkerGroupCallback

    class ReleasePlacementGroup(WorkerGroupCallback):
        def after_worker_group_start(self, worker_group) -> None:
            try:
                watcher = ray.get_actor(name)
            except ValueError:
                return  # nobody watches: a run started outside the trainer
            group = worker_group.get_worker_group_state().placement_group_handle.placement_group
            try:  # best effort: a watcher that is gone must not stop the run (its group then waits for the job's end)
                ray.get(watcher.add.remote(ray.get_runtime_context().current_actor, group), timeout=30)
            except Exception:  # noqa: BLE001 - logged; the run goes on
                log.warning("could not register placement group %s with %s", group.id, name, exc_info=True)

    return ReleasePlacementGroup()
