"""Evaluations kept in SQL, one per (model version, dataset version, split), with the
per-example predictions a later comparison needs: a report is computed once."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from tuneloop.core.db import write_transaction
from tuneloop.core.schema import evaluations
from tuneloop.evaluator.records import Evaluation, Report


class EvaluationStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def get(self, model: str, dataset: str, split: str) -> Evaluation | None:
        e = evaluations
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(e).where(e.c.model == model, e.c.dataset == dataset,
                                                  e.c.split == split)).first()
        if row is None:
            return None
        return Evaluation(Report.model_validate(row.report), row.predictions, row.truth, row.created_at)

    def put(self, report: Report, predictions: list[int], truth: list[int]) -> Evaluation:
        """Store (or replace) the evaluation of the report's (model, dataset, split)."""
        e = evaluations
        now = datetime.now(UTC)
        target = (e.c.model == report.model, e.c.dataset == report.dataset, e.c.split == report.split)
        with write_transaction(self.engine) as conn:
            conn.execute(sa.delete(e).where(*target))
            conn.execute(sa.insert(e).values(model=report.model, dataset=report.dataset, split=report.split,
                                             report=report.model_dump(mode="json"), predictions=predictions,
                                             truth=truth, created_at=now))
        return Evaluation(report, predictions, truth, now)
