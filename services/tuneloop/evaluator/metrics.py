"""Prometheus metrics of the evaluator service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVALUATIONS = Counter("tuneloop_evaluator_evaluations_total", "Evaluations computed (stored reports not counted).")
EXAMPLES_PER_SECOND = Gauge("tuneloop_evaluator_examples_per_second", "Inference examples/s of the latest evaluation.")
ALIAS_F1 = Gauge("tuneloop_evaluator_alias_f1_macro",
                 "Latest evaluated macro-F1 (ROUGE-L for text-generation) of the version an alias points at.",
                 ["model", "alias"])
BOARD_FAILURES = Counter("tuneloop_evaluator_tensorboard_failures_total",
                         "Evaluations stored whose TensorBoard events could not be written to the version's run.")
