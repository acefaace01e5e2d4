"""Stored evaluation reports with their per-example predictions.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("split", sa.String(32), nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("predictions", sa.JSON, nullable=False),
        sa.Column("truth", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("model", "dataset", "split", name="uq_evaluations_target"),
    )


def downgrade() -> None:
    op.drop_table("evaluations")
