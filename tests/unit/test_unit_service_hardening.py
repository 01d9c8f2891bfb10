"""Service-level behaviour pinned after the review: refused uploads leave no temp file, and
bootstrapping the first admin is idempotent whatever the store already holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelyard.blobs.local import LocalBlobStore
from modelyard.domain.service import RegistryService
from modelyard.errors import AlreadyExists, InvalidArgument
from modelyard.store.sql import SqlMetadataStore


@pytest.mark.parametrize("version", [None, "1"])
@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"file_type": "bogus"}, "file_type"),
        ({"file_type": "MODEL\x00"}, "file_type"),
        ({"sha256": "zz"}, "sha256"),
        ({"size": -1}, "size"),
        ({"mime_type": "x" * 1000}, "mime_type"),
        ({"mime_type": "a\x00"}, "mime_type"),
    ],
)
def test_refused_upload_leaves_no_temp_file(
    registry: Any, version: str | None, options: dict[str, Any], field: str
) -> None:
    service: RegistryService = registry.service
    service.create_model(registry.admin, name="m")
    service.create_version(registry.admin, "default", "m")
    target = service.file_target(registry.admin, "default", "m", version, write=True)
    with pytest.raises(InvalidArgument) as refused:
        service.begin_upload(target, "a.bin", **options)
    assert refused.value.field == field
    assert registry.tmp_files() == []
    assert registry.blob_files() == []
    assert service.list_files(registry.admin, "default", "m", version) == []


def test_bootstrap_admin_runs_once(registry: Any, sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    service: RegistryService = registry.service
    assert service.bootstrap_admin() is None
    assert service.bootstrap_admin("someone-else") is None
    # a second server on the same database: the admin exists, nothing happens
    other = RegistryService(SqlMetadataStore(sqlite_engine), LocalBlobStore(tmp_path / "b2"))
    assert other.bootstrap_admin() is None
    assert [u.name for u in service.list_users(registry.admin)] == ["admin"]


class RacingStore:
    """A store that saw no users, then finds the admin created by another server."""

    def __init__(self, inner: SqlMetadataStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def list_users(self) -> list[Any]:
        return []

    def create_user(self, *, name: str, is_admin: bool) -> Any:
        raise AlreadyExists(f"user {name} already exists", field="name")


def test_bootstrap_admin_lost_race_returns_none(sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    first = RegistryService(SqlMetadataStore(sqlite_engine), LocalBlobStore(tmp_path / "a"))
    assert first.bootstrap_admin() is not None
    store: Any = RacingStore(SqlMetadataStore(sqlite_engine))
    racing = RegistryService(store, LocalBlobStore(tmp_path / "b"))
    assert racing.bootstrap_admin() is None
