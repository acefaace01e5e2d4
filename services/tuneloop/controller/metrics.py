"""Prometheus metrics of the controller."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter("tuneloop_controller_runs_total", "Retraining runs ended, by outcome.", ["outcome"])
DATA_TO_PROMOTION = Histogram("tuneloop_controller_data_to_promotion_seconds",
                              "Time from a dataset version being seen to its candidate's promotion.",
                              buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400))
CHAMPION = Gauge("tuneloop_controller_champion_version", "Version the champion alias points at, by model.", ["model"])
LAST_SUCCESS = Gauge("tuneloop_controller_last_success_timestamp_seconds",
                     "When a policy last promoted a model (Unix time), for a staleness alert.", ["policy"])
LEADER = Gauge("tuneloop_controller_is_leader", "1 while this replica holds the leader lease.")
REPORT_FAILURES = Counter("tuneloop_controller_report_failures_total",
                          "Decided runs whose report could not be made (the decision stands; see the log).")
