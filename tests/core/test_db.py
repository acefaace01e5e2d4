"""Alembic migrations build exactly the schema in core/schema.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tuneloop.core.db import downgrade, migrate
from tuneloop.core.schema import metadata


def test_migrated_schema_matches_metadata(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrate_is_idempotent_and_downgradable(engine):
    migrate(engine)  # second upgrade: a no-op
    downgrade(engine, "base")
    assert "dataset_versions" not in sa.inspect(engine).get_table_names()
    migrate(engine)
    assert {"datasets", "dataset_versions"} <= set(sa.inspect(engine).get_table_names())
