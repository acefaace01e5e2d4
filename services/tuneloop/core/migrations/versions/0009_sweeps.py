"""Trainer: a job may be a hyperparameter sweep: its request (the search space as parsed,
trials, concurrency, searcher, scheduler) and its trials' outcomes, as JSON; NULL for a
plain training job.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("train_jobs") as batch:
        batch.add_column(sa.Column("sweep", sa.JSON, nullable=True))
        batch.add_column(sa.Column("trials", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("train_jobs") as batch:
        batch.drop_column("trials")
        batch.drop_column("sweep")
