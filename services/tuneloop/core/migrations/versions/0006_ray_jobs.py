"""Trainer: the Ray Jobs submission a training job runs as on a remote cluster, and how many
of its progress lines were already recorded (what a restarted trainer re-attaches with).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("train_jobs") as batch:
        batch.add_column(sa.Column("ray_submission", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("ray_events", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("train_jobs") as batch:
        batch.drop_column("ray_events")
        batch.drop_column("ray_submission")
