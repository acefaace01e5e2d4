"""Model registry: models, versions, tags, metrics, aliases with history, events.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("next_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
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
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("model", "version", name="uq_model_versions_version"),
    )
    op.create_index("ix_model_versions_created", "model_versions", ["created_at"])
    op.create_index("ix_model_versions_dataset", "model_versions", ["dataset"])
    op.create_table(
        "version_tags",
        sa.Column("version_id", ID, sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(512), nullable=False),
    )
    op.create_index("ix_version_tags_key_value", "version_tags", ["key", "value"])
    op.create_table(
        "version_metrics",
        sa.Column("version_id", ID, sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_index("ix_version_metrics_name_value", "version_metrics", ["name", "value"])
    op.create_table(
        "aliases",
        sa.Column("model", sa.String(128), sa.ForeignKey("models.name"), primary_key=True),
        sa.Column("alias", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_aliases_alias", "aliases", ["alias"])
    op.create_table(
        "alias_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=False),
        sa.Column("to_version", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alias_history_model_alias", "alias_history", ["model", "alias"])
    op.create_table(
        "registry_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_registry_events_model", "registry_events", ["model", "id"])


def downgrade() -> None:
    for table in ("registry_events", "alias_history", "aliases", "version_metrics", "version_tags",
                  "model_versions", "models"):
        op.drop_table(table)
