"""The SQL metadata store: an engine on SQLite (embedded) or PostgreSQL, migrated by Alembic.

`open_database(url)` creates the engine, brings the schema to the newest Alembic
revision and returns it. SQLite gets WAL and a busy timeout so several threads of one
process (and a CLI beside a server) can share the file; `write_transaction` starts its
transactions with BEGIN IMMEDIATE there, so a read-then-write transaction waits for the
write lock up front instead of failing with "database is locked" half-way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


class UtcDateTime(sa.TypeDecorator):
    """A timestamp that is a timezone-aware UTC datetime on every database: PostgreSQL
    returns aware values, SQLite naive ones, and records compare and serialize both alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store UTC-aware times only")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's begin event below emits BEGIN itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("tuneloop_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextlib.contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that will write: committed on success, rolled back on error."""
    with engine.connect().execution_options(tuneloop_write=True) as conn, conn.begin():
        yield conn


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> sa.Engine:
    """An engine for `url` (a PostgreSQL one keeps up to pool_size + max_overflow connections);
    the SQLite file's folder is created when missing."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def alembic_config(engine: sa.Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the schema of `engine`'s database to `revision`, one process at a time (several
    replicas start together: without the lock one crashed with "database is locked")."""
    with _migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)


_PG_MIGRATION_LOCK = 0x7475_6E65  # "tune": the advisory lock id every tuneloop process agrees on


@contextlib.contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    """A file lock beside a SQLite file; a session advisory lock on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:":
            yield
            return
        from filelock import FileLock

        with FileLock(f"{path}.migrate.lock", timeout=300):
            yield
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _PG_MIGRATION_LOCK})
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _PG_MIGRATION_LOCK})


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Downgrade the schema of `engine`'s database to `revision` ("base" drops everything)."""
    command.downgrade(alembic_config(engine), revision)


def check_current(engine: sa.Engine) -> str:
    """The schema's revision, when it is the newest this code knows; else an error that says
    to migrate (on Kubernetes the chart's hook Job does, before any pod starts)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is None or current != head:
        raise RuntimeError(f"the database schema is at {current or 'nothing'} and this tuneloop needs {head}: run "
                           "`tuneloop migrate` (the Helm chart's migration Job does, at install and upgrade)")
    return current


def open_database(url: str, *, migrate_schema: bool = True, pool_size: int = 10, max_overflow: int = 20) -> sa.Engine:
    """The engine, its schema migrated to the newest revision (or, with `migrate_schema`
    False, checked to be there already)."""
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    if migrate_schema:
        migrate(engine)
    else:
        check_current(engine)
    return engine
