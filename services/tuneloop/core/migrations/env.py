"""Alembic environment: runs migrations on the engine handed in by tuneloop.core.db."""

from alembic import context

from tuneloop.core.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
