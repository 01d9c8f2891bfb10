"""The ``store`` fixture: a fresh, migrated SqlMetadataStore on SQLite and on PostgreSQL, so
every test in this folder runs on both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from modelyard.store import tables
from modelyard.store.engine import make_engine, migrate
from modelyard.store.sql import SqlMetadataStore


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")
    engine: sa.Engine = request.getfixturevalue("pg_engine")
    names = ", ".join(t.name for t in tables.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    return engine


@pytest.fixture
def store(engine: sa.Engine) -> SqlMetadataStore:
    return SqlMetadataStore(engine)
