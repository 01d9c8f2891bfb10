"""migrate() builds the schema from nothing, and the migrated schema matches tables.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from modelyard.store import tables
from modelyard.store.engine import make_engine, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        create: Callable[[], str] = request.getfixturevalue("pg_database")
        url = create()
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_migrate_creates_the_schema_and_matches_the_tables(empty_engine: sa.Engine) -> None:
    assert sa.inspect(empty_engine).get_table_names() == []
    migrate(empty_engine)
    expected = {t.name for t in tables.metadata.sorted_tables}
    assert expected <= set(sa.inspect(empty_engine).get_table_names())
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    assert diff == []
    migrate(empty_engine)  # a second run is a no-op
