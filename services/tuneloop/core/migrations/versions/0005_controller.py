"""Controller: retraining policies, their runs and run events, the leader lease; an
idempotency key for training jobs.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("train_jobs") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(200), nullable=True))
        batch.create_unique_constraint("uq_train_jobs_idempotency_key", ["idempotency_key"])
    op.create_table(
        "policies",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "policy_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("policy", sa.String(128), sa.ForeignKey("policies.name"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
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
        sa.Column("data_seen_at", TS, nullable=True),
        sa.Column("started", TS, nullable=False),
        sa.Column("finished", TS, nullable=True),
        sa.UniqueConstraint("policy", "key", name="uq_policy_runs_key"),
    )
    op.create_table(
        "run_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("run", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_run_events_policy", "run_events", ["policy", "id"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("leases", "run_events", "policy_runs", "policies"):
        op.drop_table(table)
    with op.batch_alter_table("train_jobs") as batch:
        batch.drop_constraint("uq_train_jobs_idempotency_key", type_="unique")
        batch.drop_column("idempotency_key")
