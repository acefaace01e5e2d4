"""Prometheus metrics of the trainer service (Ray exports none of ours: the service publishes
them from the progress events that rank 0 and the Ray Train callback send)."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

JOBS = Gauge("tuneloop_trainer_jobs", "Training jobs by state.", ["state"])
# the label is `job_id`, not `job`: Prometheus owns `job` (the scrape job) and would rename ours
SAMPLES_PER_SECOND = Gauge("tuneloop_trainer_samples_per_second", "Steady-state training samples/s, by job.",
                           ["job_id"])
LOSS = Gauge("tuneloop_trainer_loss", "Current training loss, by job.", ["job_id"])
STEP_SECONDS = Histogram("tuneloop_trainer_step_seconds", "Time of one training step (rank 0).",
                         buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CHECKPOINT_SECONDS = Histogram("tuneloop_trainer_checkpoint_seconds", "Time to save one checkpoint (rank 0).",
                               buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))


def observe(job_id: str, event: dict) -> None:
    if event.get("type") == "step":
        LOSS.labels(job_id).set(event["loss"])
        if event.get("samples_per_second"):
            SAMPLES_PER_SECOND.labels(job_id).set(event["samples_per_second"])
        STEP_SECONDS.observe(event.get("step_seconds", 0.0))
    elif event.get("type") == "epoch":  # a job shorter than log_every steps still shows up
        LOSS.labels(job_id).set(event["train_loss"])
        if event.get("samples_per_second"):
            SAMPLES_PER_SECOND.labels(job_id).set(event["samples_per_second"])
    elif event.get("type") == "checkpoint":
        CHECKPOINT_SECONDS.observe(event.get("seconds", 0.0))


def publish_states(counts: dict[str, int]) -> None:
    for state in ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"):
        JOBS.labels(state).set(counts.get(state, 0))
