"""Controller: the HTML report stored with each decided run (its candidate's, `tuneloop.report`).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_reports",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("policy_runs.id"), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_reports")
