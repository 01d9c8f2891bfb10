"""Service-level behaviour pinned after the review: refused uploads leave no temp file, and
bootstrapping the first admin is idempotent whatever the store already holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelyard.blobs.local import LocalBlobStore
from modelyard.domain.directory import TOKEN_RECHECK
from modelyard.domain.service import RegistryService
from modelyard.errors import AlreadyExists, InvalidArgument, Unauthenticated
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


def test_a_live_token_is_rechecked_at_most_once_a_second(
    sqlite_engine: sa.Engine, tmp_path: Path
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store: Any = CountingStore(SqlMetadataStore(sqlite_engine))
    service = RegistryService(store, LocalBlobStore(tmp_path / "b"), clock=lambda: now[0])
    token = service.bootstrap_admin()
    assert token is not None
    admin = service.authenticate(token)
    assert service.authenticate(token) == admin and store.lookups == 1  # remembered
    now[0] += TOKEN_RECHECK
    assert service.authenticate(token) == admin and store.lookups == 2  # asked again
    # A token that expires is refused once the second is up.
    expiring = service.create_token(
        admin, name="short", expires_at=now[0] + timedelta(seconds=1)
    ).token
    service.authenticate(expiring)
    now[0] += timedelta(seconds=2)
    with pytest.raises(Unauthenticated):
        service.authenticate(expiring)
    # Unknown tokens are never remembered.
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            service.authenticate("not-a-token")
    assert store.lookups == 6


class CountingStore:
    def __init__(self, inner: SqlMetadataStore) -> None:
        self._inner = inner
        self.lookups = 0

    def user_for_token(self, token_hash: str, now: datetime) -> Any:
        self.lookups += 1
        return self._inner.user_for_token(token_hash, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
