"""Serving: the model versions it loaded (with their labels and training dataset) and the
predictions it logged (a shadow's beside the one it shadowed), with the truth fed back for them.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "served_versions",
        sa.Column("model_version", sa.String(200), primary_key=True),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("image", sa.LargeBinary, nullable=True),
        sa.Column("predicted", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feedback", sa.Text, nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("appended_to", sa.String(200), nullable=True),
        sa.Column("shadow_of", sa.String(32), nullable=True),
        sa.Column("champion_predicted", sa.Text, nullable=True),
    )
    op.create_index("ix_predictions_pending", "predictions", ["model_version", "feedback_at"])
    op.create_index("ix_predictions_shadow_of", "predictions", ["shadow_of"])


def downgrade() -> None:
    op.drop_index("ix_predictions_shadow_of", "predictions")
    op.drop_index("ix_predictions_pending", "predictions")
    op.drop_table("predictions")
    op.drop_table("served_versions")
