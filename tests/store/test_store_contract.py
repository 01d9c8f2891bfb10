"""The MetadataStore contract, run against SqlMetadataStore on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from store_builders import make_model, make_version, now

from modelyard.domain.entities import FileEntry, Metric, User
from modelyard.domain.enums import AccessLevel, FileStorage, FileType, ParentKind, VersionState
from modelyard.domain.ids import new_id
from modelyard.domain.ports import ModelQuery
from modelyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from modelyard.store.sql import SqlMetadataStore


@pytest.fixture
def alice(store: SqlMetadataStore) -> User:
    return store.create_user(name="alice", is_admin=False)


@pytest.fixture
def bob(store: SqlMetadataStore) -> User:
    return store.create_user(name="bob", is_admin=False)


def names(store: SqlMetadataStore, viewer: User, **filters: object) -> list[str]:
    page = store.list_models(ModelQuery(viewer=viewer, page_size=1000, **filters))  # type: ignore[arg-type]
    assert page.next_page_token is None
    return [m.name for m in page.items]


def file_entry(parent_id: str, path: str, *, kind: ParentKind = ParentKind.VERSION, sha="a" * 64):
    return FileEntry(
        id=new_id(),
        parent_kind=kind,
        parent_id=parent_id,
        path=path,
        size=3,
        sha256=sha,
        mime_type="application/octet-stream",
        file_type=FileType.OTHER,
        storage=FileStorage.STORED,
        uri=None,
        created_at=now(),
    )


# -- users and tokens -------------------------------------------------------------------------


def test_users_are_unique_and_listed(store: SqlMetadataStore, alice: User) -> None:
    with pytest.raises(AlreadyExists):
        store.create_user(name="alice", is_admin=True)
    assert store.get_user("alice") == alice
    assert store.get_user("nobody") is None
    assert [u.name for u in store.list_users()] == ["alice"]


def test_token_resolves_until_it_expires(store: SqlMetadataStore, alice: User) -> None:
    t0 = now()
    store.add_token(user_id=alice.id, token_hash="h1", name="t", expires_at=t0 + timedelta(hours=1))
    store.add_token(user_id=alice.id, token_hash="h2", name="forever", expires_at=None)
    assert store.user_for_token("h1", t0) == alice
    assert store.user_for_token("h1", t0 + timedelta(hours=2)) is None
    assert store.user_for_token("h2", t0 + timedelta(days=3650)) == alice
    assert store.user_for_token("unknown", t0) is None


# -- namespaces and models --------------------------------------------------------------------


def test_namespaces_are_created_once(store: SqlMetadataStore, alice: User) -> None:
    first = store.ensure_namespace("team")
    assert store.ensure_namespace("team").id == first.id
    make_model(store, alice, "m", namespace="other")
    admin = store.create_user(name="root", is_admin=True)
    assert [n.name for n in store.list_namespaces(admin)] == ["other", "team"]
    # Others see only namespaces holding a model they may read: alice's "m" is private.
    bob = store.create_user(name="bob", is_admin=False)
    assert [n.name for n in store.list_namespaces(alice)] == ["other"]
    assert store.list_namespaces(bob) == []


def test_create_and_get_model(store: SqlMetadataStore, alice: User) -> None:
    made = make_model(store, alice, "churn", namespace="team", task="classification")
    got = store.get_model("team", "churn")
    assert got is not None
    assert (got.id, got.owner, got.task, got.access) == (
        made.id,
        "alice",
        "classification",
        "private",
    )
    assert store.get_model("default", "churn") is None
    assert store.get_model_by_id(made.id) == got
    assert store.get_model_by_id("0" * 32) is None


def test_duplicate_model_name_in_namespace(store: SqlMetadataStore, alice: User, bob: User) -> None:
    make_model(store, alice, "churn")
    with pytest.raises(AlreadyExists) as info:
        make_model(store, bob, "churn")
    assert info.value.field == "name"
    make_model(store, bob, "churn", namespace="elsewhere")  # other namespace: fine
    assert store.get_model("default", "churn").owner == "alice"  # type: ignore[union-attr]


def test_list_filters(store: SqlMetadataStore, alice: User, bob: User) -> None:
    admin = store.create_user(name="root", is_admin=True)
    make_model(store, alice, "asr-en", task="ASR", access=AccessLevel.PUBLIC)
    make_model(store, alice, "asr-de", task="ASR", namespace="speech")
    make_model(store, bob, "bert-base", access=AccessLevel.PUBLIC)
    make_model(store, bob, "secret-asr")
    assert names(store, admin) == ["asr-de", "asr-en", "bert-base", "secret-asr"]
    assert names(store, admin, namespace="speech") == ["asr-de"]
    assert names(store, admin, name_prefix="asr") == ["asr-de", "asr-en"]
    assert names(store, admin, name_contains="ASR") == ["asr-de", "asr-en", "secret-asr"]
    assert names(store, admin, owner="bob") == ["bert-base", "secret-asr"]
    assert names(store, admin, task="ASR") == ["asr-de", "asr-en"]
    assert names(store, admin, name_prefix="zzz") == []


def test_prefix_and_substring_are_literal(store: SqlMetadataStore, alice: User) -> None:
    # The store takes names as given ('%' is refused earlier, by Name.parse): it must treat
    # '_' and '%' as plain characters, never as LIKE wildcards.
    for name in ("a_b", "axb", "a%b", "a%c", "a.b", "ab", "xa_b"):
        make_model(store, alice, name)
    assert names(store, alice, name_prefix="a_") == ["a_b"]
    assert names(store, alice, name_contains="a_") == ["a_b", "xa_b"]
    assert names(store, alice, name_prefix="a%") == ["a%b", "a%c"]
    assert names(store, alice, name_contains="%") == ["a%b", "a%c"]
    assert names(store, alice, name_contains="%b") == ["a%b"]
    assert names(store, alice, name_prefix="a.") == ["a.b"]
    assert names(store, alice, name_prefix="a") == ["a%b", "a%c", "a.b", "a_b", "ab", "axb"]


def test_tag_filter(store: SqlMetadataStore, alice: User) -> None:
    m1 = make_model(store, alice, "one")
    make_model(store, alice, "two")
    make_version(store, m1, alice, tags=("production",))
    assert names(store, alice, tag="production") == ["one"]
    assert names(store, alice, tag="staging") == []


def test_private_models_of_others_are_not_listed(
    store: SqlMetadataStore, alice: User, bob: User
) -> None:
    make_model(store, alice, "alice-private")
    make_model(store, alice, "alice-public", access=AccessLevel.PUBLIC)
    make_model(store, bob, "bob-private")
    assert names(store, bob) == ["alice-public", "bob-private"]
    assert names(store, alice) == ["alice-private", "alice-public"]
    assert names(store, bob, owner="alice") == ["alice-public"]


def test_cursor_pagination_has_no_duplicates_or_gaps(store: SqlMetadataStore, alice: User) -> None:
    expected = sorted(f"m{i:02d}" for i in range(23))
    for name in reversed(expected):
        make_model(store, alice, name)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.list_models(ModelQuery(viewer=alice, page_size=5, page_token=token))
        seen += [m.name for m in page.items]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert seen == expected
    assert pages == 5


def test_update_model_merges_metadata(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m", metadata={"keep": 1, "drop": 2, "change": "a"})
    updated = store.update_model(
        m.id, {"description": "new", "metadata": {"drop": None, "change": "b", "add": [1]}}
    )
    assert updated.description == "new"
    assert updated.metadata == {"keep": 1, "change": "b", "add": [1]}
    assert store.get_model("default", "m").metadata == updated.metadata  # type: ignore[union-attr]


def test_delete_model_cascades(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    v = make_version(store, m, alice, tags=("prod",))
    store.put_files([file_entry(v.id, "w.bin")], pending_version=v.id)
    store.put_files([file_entry(m.id, "README.md", kind=ParentKind.MODEL)], pending_version=None)
    store.add_metrics(v.id, [Metric(key="acc", value=0.5, step=1, wallclock=1.0)])
    store.add_metrics(m.id, [Metric(key="acc", value=0.5, step=1, wallclock=1.0)])
    store.delete_model(m.id)
    assert store.get_model("default", "m") is None
    assert store.get_version_by_id(v.id) is None
    assert store.list_files(v.id) == [] and store.list_files(m.id) == []
    assert store.list_metrics(v.id, None) == [] and store.list_metrics(m.id, None) == []
    assert store.tag_history(m.id, None) == []
    # the name is free again
    again = make_model(store, alice, "m")
    assert store.list_tags(again.id) == {}


# -- versions ---------------------------------------------------------------------------------


def test_versions_are_numbered_and_labelled(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    v1 = make_version(store, m, alice)
    v2 = make_version(store, m, alice, label="1.0.0")
    assert (v1.number, v1.label) == (1, "1")
    assert (v2.number, v2.label) == (2, "1.0.0")
    with pytest.raises(AlreadyExists):
        make_version(store, m, alice, label="1.0.0")
    with pytest.raises(InvalidArgument) as refused:  # "1" is version 1's number already
        make_version(store, m, alice, label="1")
    assert refused.value.field == "version"
    assert make_version(store, m, alice, label="3").number == 3  # its own number is fine
    other = make_model(store, alice, "other")
    assert make_version(store, other, alice, label="1.0.0").number == 1


def test_concurrent_creates_get_distinct_consecutive_numbers(
    store: SqlMetadataStore, alice: User
) -> None:
    m = make_model(store, alice, "m")
    numbers: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def create() -> None:
        try:
            start.wait()
            for _ in range(3):
                numbers.append(make_version(store, m, alice).number)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 25))
    listed = store.list_versions(m.id, page_size=100, page_token=None).items
    assert [v.number for v in listed] == list(range(1, 25))


def test_numeric_labels_are_the_version_number(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    with pytest.raises(InvalidArgument):
        make_version(store, m, alice, label="2")  # would be number 1: "2" must mean version 2
    v1 = make_version(store, m, alice, label="b")  # number 1
    v2 = make_version(store, m, alice)  # number 2, label "2"
    assert store.get_version(m.id, "1").id == v1.id  # type: ignore[union-attr]
    assert store.get_version(m.id, "b").id == v1.id  # type: ignore[union-attr]
    assert store.get_version(m.id, "2").id == v2.id  # type: ignore[union-attr]
    assert store.get_version(m.id, "3") is None
    assert store.get_version(m.id, "nope") is None


def test_list_versions_pages(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    for _ in range(7):
        make_version(store, m, alice)
    first = store.list_versions(m.id, page_size=3, page_token=None)
    second = store.list_versions(m.id, page_size=3, page_token=first.next_page_token)
    third = store.list_versions(m.id, page_size=3, page_token=second.next_page_token)
    got = [v.number for p in (first, second, third) for v in p.items]
    assert got == list(range(1, 8))
    assert third.next_page_token is None


def test_versions_of_many_models_at_once(store: SqlMetadataStore, alice: User) -> None:
    a, b, empty = (make_model(store, alice, n) for n in ("a", "b", "empty"))
    a_versions = [make_version(store, a, alice) for _ in range(3)]
    b_version = make_version(store, b, alice)
    store.move_tag(a.id, "production", a_versions[1].id, actor=alice.name)
    # more ids than one IN (...) takes: unknown ones, then the real ones
    asked = [new_id() for _ in range(600)] + [b.id, empty.id, a.id, a.id]
    found = store.versions_of(asked)
    assert set(found) == {a.id, b.id}
    assert [v.id for v in found[a.id]] == [v.id for v in a_versions]  # oldest first
    assert [v.id for v in found[b.id]] == [b_version.id]
    assert found[a.id][1].tags == ("production",)
    assert found[a.id][1] == store.get_version_by_id(a_versions[1].id)
    assert store.versions_of([]) == {}


def test_version_metadata_merge(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    v = make_version(store, m, alice, metadata={"a": 1, "b": {"x": 1}})
    updated = store.update_version(v.id, {"metadata": {"a": None, "b": {"y": 2}, "c": "s"}})
    assert updated.metadata == {"b": {"y": 2}, "c": "s"}
    assert store.get_version_by_id(v.id).metadata == updated.metadata  # type: ignore[union-attr]


def test_state_transitions(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    v = make_version(store, m, alice)
    assert v.state == VersionState.PENDING
    ready = store.transition_version(
        v.id,
        expected=VersionState.PENDING,
        to=VersionState.READY,
        content_digest="d" * 64,
        status_message=None,
    )
    assert (ready.state, ready.content_digest) == (VersionState.READY, "d" * 64)
    assert ready.finished_at is not None
    with pytest.raises(FailedPrecondition):
        store.transition_version(
            v.id,
            expected=VersionState.PENDING,
            to=VersionState.FAILED,
            content_digest=None,
            status_message="boom",
        )
    assert store.get_version_by_id(v.id).state == VersionState.READY  # type: ignore[union-attr]


# -- files ------------------------------------------------------------------------------------


def test_files_put_replace_list(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    v = make_version(store, m, alice)
    store.put_files([file_entry(v.id, "b.bin"), file_entry(v.id, "a/x.txt")], pending_version=v.id)
    store.put_files([file_entry(v.id, "b.bin", sha="b" * 64)], pending_version=v.id)
    files = store.list_files(v.id)
    assert [f.path for f in files] == ["a/x.txt", "b.bin"]
    assert store.get_file(v.id, "b.bin").sha256 == "b" * 64  # type: ignore[union-attr]
    assert store.get_file(v.id, "missing") is None


def test_put_files_refused_unless_pending(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    v = make_version(store, m, alice)
    store.put_files([file_entry(v.id, "a.bin")], pending_version=v.id)
    store.transition_version(
        v.id,
        expected=VersionState.PENDING,
        to=VersionState.READY,
        content_digest=None,
        status_message=None,
    )
    with pytest.raises(FailedPrecondition):
        store.put_files(
            [file_entry(v.id, "b.bin"), file_entry(v.id, "a.bin", sha="c" * 64)],
            pending_version=v.id,
        )
    files = store.list_files(v.id)
    assert [(f.path, f.sha256) for f in files] == [("a.bin", "a" * 64)]


# -- metrics ----------------------------------------------------------------------------------


def test_metrics_order_and_value_types(store: SqlMetadataStore, alice: User) -> None:
    m = make_model(store, alice, "m")
    v = make_version(store, m, alice)
    store.add_metrics(
        v.id,
        [
            Metric(key="loss", value=0.1, step=None, wallclock=30.0),
            Metric(key="loss", value=0.3, step=2, wallclock=1.0),
            Metric(key="loss", value=0.5, step=None, wallclock=20.0),
            Metric(key="loss", value=0.9, step=0, wallclock=99.0),
            Metric(key="loss", value=0.7, step=1, wallclock=5.0),
            Metric(key="note", value="épique ✓", step=None, wallclock=1.0),
            Metric(key="blob", value=b"\x00\xffbytes", step=None, wallclock=1.0),
        ],
    )
    loss = store.list_metrics(v.id, "loss")
    assert [(x.step, x.value) for x in loss] == [
        (0, 0.9),
        (1, 0.7),
        (2, 0.3),
        (None, 0.5),
        (None, 0.1),
    ]
    assert store.list_metrics(v.id, "note")[0].value == "épique ✓"
    blob = store.list_metrics(v.id, "blob")[0].value
    assert blob == b"\x00\xffbytes" and isinstance(blob, bytes)
    assert len(store.list_metrics(v.id, None)) == 7
    assert store.list_metrics(m.id, None) == []  # model-level metrics are separate


# -- tags -------------------------------------------------------------------------------------


def test_tags_move_with_history(store: SqlMetadataStore, alice: User, bob: User) -> None:
    m = make_model(store, alice, "m")
    v1 = make_version(store, m, alice, tags=("production",))
    v2 = make_version(store, m, alice)
    assert store.list_tags(m.id) == {"production": 1}
    time.sleep(0.002)
    store.move_tag(m.id, "production", v2.id, actor="bob")
    store.move_tag(m.id, "production", v2.id, actor="bob")  # no-op: already there
    assert store.list_tags(m.id) == {"production": 2}
    assert store.get_version_by_id(v1.id).tags == ()  # type: ignore[union-attr]
    assert store.get_version_by_id(v2.id).tags == ("production",)  # type: ignore[union-attr]
    store.move_tag(m.id, "production", None, actor="alice")
    assert store.list_tags(m.id) == {}
    history = store.tag_history(m.id, "production")
    assert [(e.version_number, e.previous_version_number, e.moved_by) for e in history] == [
        (1, None, "alice"),
        (2, 1, "bob"),
        (None, 2, "alice"),
    ]
    assert history[0].moved_at <= history[1].moved_at <= history[2].moved_at
    assert store.tag_history(m.id, "staging") == []


def test_tags_are_unique_per_model(store: SqlMetadataStore, alice: User) -> None:
    m1, m2 = make_model(store, alice, "m1"), make_model(store, alice, "m2")
    a = make_version(store, m1, alice, tags=("prod",))
    b = make_version(store, m2, alice, tags=("prod",))
    make_version(store, m1, alice, tags=("prod",))  # moves the tag within m1 only
    assert store.list_tags(m1.id) == {"prod": 2}
    assert store.list_tags(m2.id) == {"prod": 1}
    assert store.get_version_by_id(a.id).tags == ()  # type: ignore[union-attr]
    assert store.get_version_by_id(b.id).tags == ("prod",)  # type: ignore[union-attr]
