"""Evaluation reports kept in SQL, one per (model version, dataset version, split), with the
per-example predictions a later comparison needs: a report is computed once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from tuneloop.core.db import write_transaction
from tuneloop.core.schema import evaluations


@dataclass(frozen=True)
class Stored:
    report: dict
    predictions: list[int]
    truth: list[int]
    created_at: datetime


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


class EvaluationStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def get(self, model: str, dataset: str, split: str) -> Stored | None:
        e = evaluations
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(e).where(e.c.model == model, e.c.dataset == dataset,
                                                  e.c.split == split)).first()
        if row is None:
            return None
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        return Stored(_json(row.report), _json(row.predictions), _json(row.truth), created)

    def put(self, model: str, dataset: str, split: str, report: dict, predictions: list[int],
            truth: list[int]) -> Stored:
        """Store (or replace) the report of this target."""
        e = evaluations
        now = datetime.now(UTC)
        with write_transaction(self.engine) as conn:
            conn.execute(sa.delete(e).where(e.c.model == model, e.c.dataset == dataset, e.c.split == split))
            conn.execute(sa.insert(e).values(model=model, dataset=dataset, split=split, report=report,
                                             predictions=predictions, truth=truth, created_at=now))
        return Stored(report, predictions, truth, now)
