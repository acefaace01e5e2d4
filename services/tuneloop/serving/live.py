"""Live performance: how each served version does on the truth fed back for its predictions,
over a sliding window of its latest feedback, from the shared prediction log (so every replica
sees every replica's feedback).

Per version: the feedback count, accuracy and macro-F1 on the window, and, given a baseline (the
version's offline test accuracy), the one-sided binomial p-value that its live accuracy is that
low by chance: the controller's `live_performance` trigger fires on a floor or on that test.
The same figures are Prometheus gauges, refreshed whenever feedback arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from tuneloop.core.schema import predictions, served_versions
from tuneloop.serving import metrics as prom

MAX_WINDOW = 100_000


@dataclass
class LiveStats:
    model_version: str
    feedback: int  # in the window
    correct: int
    accuracy: float
    f1_macro: float  # over the version's labels (0 for generation)
    p_below_baseline: float  # 1.0 without a baseline
    requests: int = 0  # predictions logged for it, all time (a shadow's: requests it shadowed)
    shadowed: int = 0  # of those, answers it gave as a shadow
    agreement: float = 0.0  # a shadow's: share of its latest `window` answers equal to the answer returned
    champion_accuracy: float = 0.0  # a shadow's: the answer returned's accuracy on the same feedback rows
    label_shift: float = 0.0  # drift (serving/drift.py), filled in by the caller
    length_shift: float = 0.0
    unseen_words: float = 0.0
    validation_unseen_words: float = 0.0


def _window(conn: sa.Connection, model_version: str, window: int) -> list[tuple[str, str, str | None]]:
    """(predicted, true, what the champion said if this was a shadow's) of the version's latest
    `window` feedback rows."""
    return [(r.predicted, r.feedback, r.champion_predicted) for r in conn.execute(
        sa.select(predictions.c.predicted, predictions.c.feedback, predictions.c.champion_predicted)
        .where(predictions.c.model_version == model_version, predictions.c.feedback.is_not(None))
        .order_by(predictions.c.feedback_at.desc(), predictions.c.id.desc()).limit(window))]


def _shadowing(conn: sa.Connection, model_version: str, window: int) -> tuple[int, int, float]:
    """(predictions logged, of which shadow answers, the agreement of the latest `window` of those)."""
    count = sa.select(sa.func.count()).select_from(predictions).where(predictions.c.model_version == model_version)
    requests = conn.execute(count).scalar() or 0
    shadowed = conn.execute(count.where(predictions.c.shadow_of.is_not(None))).scalar() or 0
    latest = conn.execute(sa.select(predictions.c.predicted, predictions.c.champion_predicted)
                          .where(predictions.c.model_version == model_version, predictions.c.shadow_of.is_not(None))
                          .order_by(predictions.c.created_at.desc(), predictions.c.id.desc()).limit(window)).all()
    agreement = sum(r.predicted == r.champion_predicted for r in latest) / len(latest) if latest else 0.0
    return requests, shadowed, agreement


def stats(engine: sa.Engine, model_version: str, window: int, baseline: float = 0.0) -> LiveStats:
    from scipy.stats import binomtest
    from sklearn.metrics import f1_score

    with engine.connect() as conn:
        pairs = _window(conn, model_version, window)
        requests, shadowed, agreement = _shadowing(conn, model_version, window)
        labels = conn.execute(sa.select(served_versions.c.labels)
                              .where(served_versions.c.model_version == model_version)).scalar() or []
    n = len(pairs)
    correct = sum(p == t for p, t, _ in pairs)
    f1 = float(f1_score([t for _, t, _ in pairs], [p for p, _, _ in pairs], labels=labels, average="macro",
                        zero_division=0)) if n and labels else 0.0
    paired = [(c, t) for _, t, c in pairs if c is not None]
    champion_accuracy = sum(c == t for c, t in paired) / len(paired) if paired else 0.0
    p_below = float(binomtest(correct, n, baseline, alternative="less").pvalue) if n and 0 < baseline <= 1 else 1.0
    out = LiveStats(model_version, n, correct, correct / n if n else 0.0, f1, p_below, requests, shadowed,
                    agreement, champion_accuracy)
    if n:
        prom.LIVE_ACCURACY.labels(model_version).set(out.accuracy)
        prom.LIVE_F1.labels(model_version).set(out.f1_macro)
        prom.LIVE_FEEDBACK.labels(model_version).set(n)
    return out


def model_stats(engine: sa.Engine, model: str, window: int, baseline: float = 0.0) -> list[LiveStats]:
    """Every version of `model` with logged predictions, newest version first."""
    with engine.connect() as conn:
        versions = conn.execute(sa.select(predictions.c.model_version).distinct()
                                .where(predictions.c.model_version.like(f"{model}@%"))).scalars().all()
    versions = sorted(versions, key=lambda v: -int(v.rsplit("@", 1)[1]))
    return [stats(engine, v, window, baseline) for v in versions]
