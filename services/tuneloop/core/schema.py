"""SQL tables of every service, as SQLAlchemy Core metadata.

The Alembic migrations under `migrations/versions` create exactly these; a test
checks that the migrated schema and this metadata agree.
"""

from __future__ import annotations

import sqlalchemy as sa

from tuneloop.core.db import UtcDateTime

metadata = sa.MetaData()

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("dataset", sa.String(128), sa.ForeignKey("datasets.name"), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("parent", sa.String(64), nullable=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("rows_in", sa.BigInteger, nullable=False),
    sa.Column("rows_out", sa.BigInteger, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("dataset", "sequence", name="uq_dataset_versions_sequence"),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("next_version", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), sa.ForeignKey("models.name"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("files", sa.JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("base_model", sa.String(200), nullable=False),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("job", sa.String(128), nullable=False),
    sa.Column("parent_version", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("model", "version", name="uq_model_versions_version"),
    sa.Index("ix_model_versions_created", "created_at"),
    sa.Index("ix_model_versions_dataset", "dataset"),
)

version_tags = sa.Table(
    "version_tags",
    metadata,
    sa.Column("version_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
              sa.ForeignKey("model_versions.id"), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(512), nullable=False),
    sa.Index("ix_version_tags_key_value", "key", "value"),
)

version_metrics = sa.Table(
    "version_metrics",
    metadata,
    sa.Column("version_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
              sa.ForeignKey("model_versions.id"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_version_metrics_name_value", "name", "value"),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("model", sa.String(128), sa.ForeignKey("models.name"), primary_key=True),
    sa.Column("alias", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_aliases_alias", "alias"),
)

alias_history = sa.Table(
    "alias_history",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=False),
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_alias_history_model_alias", "model", "alias"),
)

registry_events = sa.Table(
    "registry_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_registry_events_model", "model", "id"),
)

train_jobs = sa.Table(
    "train_jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("dataset", sa.String(200), nullable=False),  # resolved NAME@VERSION
    sa.Column("base_model", sa.String(200), nullable=False),  # resolved NAME@VERSION
    sa.Column("result_model", sa.String(200), nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("tensorboard", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("cancel_requested", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
    sa.Column("ray_submission", sa.String(128), nullable=False, server_default=""),  # Ray Jobs submission id
    sa.Column("ray_events", sa.Integer, nullable=False, server_default="0"),  # its progress lines recorded
    sa.Column("warnings", sa.JSON, nullable=True),  # list of sentences: a degenerate model, ...
    sa.Column("sweep", sa.JSON, nullable=True),  # a sweep's request (ml.space, trainer.tune); NULL: one run
    sa.Column("trials", sa.JSON, nullable=True),  # a sweep's trials: id, state, config, best score, ...
    sa.Index("ix_train_jobs_state", "state", "created_at"),
)

train_job_events = sa.Table(
    "train_job_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), sa.ForeignKey("train_jobs.id"), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_train_job_events_job", "job_id", "id"),
)

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),  # NAME@VERSION
    sa.Column("dataset", sa.String(200), nullable=False),  # NAME@VERSION
    sa.Column("split", sa.String(32), nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("predictions", sa.JSON, nullable=False),  # predicted label index per example, in split order
    sa.Column("truth", sa.JSON, nullable=False),  # true label index per example
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("model", "dataset", "split", name="uq_evaluations_target"),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

policy_runs = sa.Table(
    "policy_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("policy", sa.String(128), sa.ForeignKey("policies.name"), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),  # what started it; one run per key
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("candidate", sa.String(200), nullable=False),
    sa.Column("champion_before", sa.String(200), nullable=False),
    sa.Column("champion_after", sa.String(200), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("data_seen_at", UtcDateTime, nullable=True),
    sa.Column("started", UtcDateTime, nullable=False),
    sa.Column("finished", UtcDateTime, nullable=True),
    sa.UniqueConstraint("policy", "key", name="uq_policy_runs_key"),
)

run_reports = sa.Table(
    "run_reports",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("policy_runs.id"), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False),  # the NAME@VERSION it reports on
    sa.Column("html", sa.Text, nullable=False),  # the whole self-contained page (tuneloop.report)
    sa.Column("created_at", UtcDateTime, nullable=False),
)

run_events = sa.Table(
    "run_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("run", sa.String(64), nullable=False),
    sa.Column("policy", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_run_events_policy", "policy", "id"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

# serving: the versions it has loaded (what feedback on their predictions is checked against), and
# the predictions it logged (sampled) with their inputs, and the truth fed back for them
served_versions = sa.Table(
    "served_versions",
    metadata,
    sa.Column("model_version", sa.String(200), primary_key=True),  # NAME@VERSION
    sa.Column("task", sa.String(32), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),  # the classes it predicts (empty for generation)
    sa.Column("dataset", sa.String(200), nullable=False),  # what it was trained on: NAME@VERSION
    sa.Column("loaded_at", UtcDateTime, nullable=False),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=True),  # the input: a text or prompt,
    sa.Column("image", sa.LargeBinary, nullable=True),  # or an encoded image
    sa.Column("predicted", sa.Text, nullable=False),  # the label, or the completion generated
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("feedback", sa.Text, nullable=True),  # the true label (or completion) fed back
    sa.Column("feedback_at", UtcDateTime, nullable=True),
    # the dataset version the feedback went into (NAME@VERSION); "claimed:<token>" while being appended
    sa.Column("appended_to", sa.String(200), nullable=True),
    # a shadow's answer: the prediction it shadowed (whose feedback judges it too) and what that one said
    sa.Column("shadow_of", sa.String(32), nullable=True),
    sa.Column("champion_predicted", sa.Text, nullable=True),
    sa.Index("ix_predictions_pending", "model_version", "feedback_at"),
    sa.Index("ix_predictions_shadow_of", "shadow_of"),
)
