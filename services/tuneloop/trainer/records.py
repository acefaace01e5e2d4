"""The trainer's objects, as the core and the store exchange them (no SQL, no protobuf).

A job's states: QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED, and QUEUED -> CANCELLED
(a RUNNING job a dead trainer left behind goes back to QUEUED, to resume).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class State(str, Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        return self in (State.SUCCEEDED, State.FAILED, State.CANCELLED)


@dataclass(frozen=True)
class Job:
    id: str
    state: State
    spec: dict  # TrainSpec.model_dump(): the effective spec, defaults filled in
    dataset: str  # resolved NAME@VERSION
    base_model: str  # resolved NAME@VERSION
    result_model: str  # the registered result, NAME@VERSION
    metrics: dict[str, float]
    error: str
    tensorboard: str
    attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    ray_submission: str = ""  # the Ray Jobs submission id, on a remote cluster
    ray_events: int = 0  # how many of its progress lines are recorded
    warnings: tuple[str, ...] = ()  # what a person should know about the result (ml.collapse.warnings)
    sweep: dict | None = None  # a sweep's request (trainer.tune.SweepRequest as a dict); None: one training run
    trials: tuple[dict, ...] = ()  # a sweep's trials (trainer.tune.trial_record)


@dataclass(frozen=True)
class JobEvent:
    id: int
    job_id: str
    type: str  # state, step, epoch, checkpoint, resumed, early_stop, ...
    data: dict
    at: datetime
