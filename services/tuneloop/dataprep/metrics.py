"""Prometheus metrics of the dataprep service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ROWS_INGESTED = Counter("tuneloop_dataprep_rows_ingested_total", "Rows read from uploaded files.")
ROWS_DROPPED = Counter("tuneloop_dataprep_rows_dropped_total", "Rows dropped during preparation, by reason.",
                       ["reason"])
VERSIONS_CREATED = Counter("tuneloop_dataprep_versions_created_total", "Dataset versions created.")
INGEST_SECONDS = Histogram(
    "tuneloop_dataprep_ingest_duration_seconds", "Time to prepare and store an upload, by operation.",
    ["operation"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)


def record_prepared(rows_in: int, dropped: dict[str, int]) -> None:
    ROWS_INGESTED.inc(rows_in)
    for reason, n in dropped.items():
        ROWS_DROPPED.labels(reason).inc(n)
