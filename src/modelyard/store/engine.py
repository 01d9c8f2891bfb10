"""Engine factory: SQLite (WAL, foreign keys, one writer) or PostgreSQL (a normal pool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> sa.Engine:
    """Build an engine for ``url``. SQLite gets WAL, foreign keys and ``BEGIN IMMEDIATE`` for
    write transactions (opened through a connection with the ``modelyard_write`` option)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            hide_parameters=True,  # values (metadata, descriptions) stay out of error logs
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            write = conn.get_execution_options().get("modelyard_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(
        url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True
    )


def _alembic_config(engine: sa.Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


#: PostgreSQL advisory lock key held while migrating, so servers starting together take turns.
_MIGRATION_LOCK = 0x6D6F64656C79


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision; a no-op (one query) when it is already there."""
    cfg = _alembic_config(engine)
    # Independent features add migrations as separate branches off a common revision, so
    # "up to date" means: at every head.
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with engine.connect() as lock:
        if engine.dialect.name == "postgresql":
            lock.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        try:
            with engine.connect() as conn:
                current = set(MigrationContext.configure(conn).get_current_heads())
            if current != heads:
                command.upgrade(cfg, "heads")
        finally:
            if engine.dialect.name == "postgresql":
                lock.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                lock.commit()
