"""The ``store`` fixture: a fresh, migrated SqlMetadataStore on SQLite and on PostgreSQL, so
every test in this folder runs on both."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from modelyard.store.sql import SqlMetadataStore


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")
    engine: sa.Engine = request.getfixturevalue("clean_pg_engine")
    return engine


@pytest.fixture
def store(engine: sa.Engine) -> SqlMetadataStore:
    return SqlMetadataStore(engine)
