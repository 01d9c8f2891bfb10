"""Writes for a parent deleted meanwhile raise NotFound (never a foreign-key failure), on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from store_builders import make_model, make_version, now

from modelyard.domain.entities import FileEntry, Metric, User
from modelyard.domain.enums import FileStorage, FileType, ParentKind
from modelyard.domain.ids import new_id
from modelyard.errors import ModelNotFound, NotFound, VersionNotFound
from modelyard.store.sql import SqlMetadataStore


def entry(parent_id: str, kind: ParentKind, path: str = "a.bin") -> FileEntry:
    return FileEntry(
        id=new_id(),
        parent_kind=kind,
        parent_id=parent_id,
        path=path,
        size=3,
        sha256="a" * 64,
        mime_type="application/octet-stream",
        file_type=FileType.OTHER,
        storage=FileStorage.STORED,
        uri=None,
        created_at=now(),
    )


METRIC = [Metric(key="acc", value=0.5, step=1, wallclock=1.0)]


@pytest.fixture
def alice(store: SqlMetadataStore) -> User:
    return store.create_user(name="alice", is_admin=False)


def test_put_files_on_a_deleted_model(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    v = make_version(store, m, alice)
    store.delete_model(m.id)
    with pytest.raises(ModelNotFound):
        store.put_files([entry(m.id, ParentKind.MODEL)], pending_version=None)
    with pytest.raises(NotFound):
        store.put_files([entry(v.id, ParentKind.VERSION)], pending_version=v.id)
    assert store.list_files(m.id) == [] and store.list_files(v.id) == []


def test_put_files_on_a_deleted_version(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    v = make_version(store, m, alice)
    store.delete_version(v.id, actor="alice")
    with pytest.raises(VersionNotFound):
        store.put_files([entry(v.id, ParentKind.VERSION)], pending_version=v.id)
    assert store.list_files(v.id) == []


@pytest.mark.parametrize("deleted", ["version", "model"])
def test_add_metrics_for_a_deleted_parent(
    store: SqlMetadataStore, alice: User, deleted: str
) -> None:
    m = make_model(store, alice, "m")
    v = make_version(store, m, alice)
    if deleted == "version":
        store.delete_version(v.id, actor="alice")
        with pytest.raises(NotFound):
            store.add_metrics(v.id, METRIC)
        store.add_metrics(m.id, METRIC)  # the model is still there
        assert len(store.list_metrics(m.id, None)) == 1
    else:
        store.delete_model(m.id)
        for parent in (v.id, m.id):
            with pytest.raises(NotFound):
                store.add_metrics(parent, METRIC)
    assert store.list_metrics(v.id, None) == []


def test_add_metrics_for_an_unknown_id(store: SqlMetadataStore) -> None:
    with pytest.raises(NotFound):
        store.add_metrics(new_id(), METRIC)
