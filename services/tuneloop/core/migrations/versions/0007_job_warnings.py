"""Trainer: what a person should know about a job's result in words (a degenerate model: one
class predicted for everything, or a validation macro-F1 at chance), as a JSON list.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("train_jobs") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("train_jobs") as batch:
        batch.drop_column("warnings")
