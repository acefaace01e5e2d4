"""The controller's objects, as the core, the reconciler and the store exchange them.

A run's states: PENDING -> TRAINING -> EVALUATING [-> SHADOWING] -> PROMOTED | REJECTED, any of
them -> FAILED (SHADOWING: a candidate that passed the offline gate answers shadow traffic for
the policy's shadow period first); a rollback check starts at EVALUATING and ends ROLLED_BACK or
REJECTED; a manual rollback is recorded ROLLED_BACK at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class RunState(str, Enum):
    PENDING = "PENDING"
    TRAINING = "TRAINING"
    EVALUATING = "EVALUATING"
    SHADOWING = "SHADOWING"
    PROMOTED = "PROMOTED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    ROLLED_BACK = "ROLLED_BACK"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({RunState.PROMOTED, RunState.REJECTED, RunState.FAILED, RunState.ROLLED_BACK})


class Trigger(str, Enum):
    """What started a run."""

    INITIAL = "initial"
    NEW_DATA = "new_data"
    DRIFT = "drift"
    LIVE_PERFORMANCE = "live_performance"
    SCHEDULE = "schedule"
    MANUAL = "manual"
    ROLLBACK_CHECK = "rollback_check"
    MANUAL_ROLLBACK = "manual_rollback"


@dataclass(frozen=True)
class Policy:
    name: str
    spec: dict  # PolicySpec.model_dump()
    paused: bool
    created_at: datetime


@dataclass(frozen=True)
class Run:
    id: str
    policy: str
    key: str  # what started it: one run per (policy, key)
    trigger: Trigger
    state: RunState
    dataset: str
    job: str
    candidate: str
    champion_before: str
    champion_after: str
    verdict: str
    reasons: list[str]
    error: str
    data_seen_at: datetime | None
    started: datetime
    finished: datetime | None


@dataclass(frozen=True)
class RunEvent:
    """A run changed state; `id` orders every event of every policy."""

    id: int
    run_id: str
    policy: str
    state: RunState
