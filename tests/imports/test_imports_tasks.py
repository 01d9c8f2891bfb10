"""Task claiming and leases: a task left RUNNING by a dead server runs again; PostgreSQL
claims skip rows another server holds; the SSRF guard's address rules."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from imports_support import Imports, make_imports

from http_source import Source
from modelyard.domain.tasks import TaskState
from modelyard.errors import InvalidArgument
from modelyard.imports.guard import AddressPolicy, SourceError
from modelyard.imports.sources import UrlFetcher
from modelyard.runner import TaskRunner
from modelyard.store.tasks import SqlTaskStore


def _version(registry: Any) -> None:
    registry.service.create_model(registry.admin, name="m")
    registry.service.create_version(registry.admin, "default", "m", label="1")


def test_a_task_left_running_by_a_dead_server_is_run_again(
    registry: Any, imports: Imports, source: Source
):
    _version(registry)
    task = imports.service.import_files(
        registry.admin, "default", "m", "1", {"a.bin": source.add("a.bin", b"data")}
    )
    # A server claimed it and died: RUNNING, with a lease that has not expired yet.
    now = datetime.now(UTC)
    claimed = imports.store.claim_task("dead-server", now, now + timedelta(seconds=60))
    assert claimed is not None and claimed.id == task.id and claimed.state == TaskState.RUNNING
    assert imports.runner.run_pending() == 0  # the lease still holds

    later = TaskRunner(imports.store, clock=lambda: now + timedelta(seconds=61))
    later.handle(*next(iter(imports.runner._handlers.items())))
    assert later.run_pending() == 1
    done = imports.service.get_task(registry.admin, task.id)
    assert done.state == TaskState.COMPLETED and done.attempts == 2
    assert [f.path for f in registry.service.list_files(registry.admin, "default", "m", "1")] == [
        "a.bin"
    ]
    # The dead server's lease is gone: it can neither renew nor end the task.
    assert not imports.store.renew_lease(task.id, "dead-server", now)
    assert not imports.store.end_task(
        task.id, "dead-server", state=TaskState.FAILED, result=None, error="x", now=now
    )


def test_a_task_that_keeps_killing_its_server_is_given_up(
    registry: Any, imports: Imports, source: Source
):
    _version(registry)
    task = imports.service.import_files(
        registry.admin, "default", "m", "1", {"a": source.add("a", b"1")}
    )
    now = datetime.now(UTC)
    for _ in range(3):  # each time its lease had run out: the server died
        assert imports.store.claim_task("dying", now, now - timedelta(hours=1)) is not None
    imports.runner.run_pending()
    done = imports.service.get_task(registry.admin, task.id)
    assert done.state == TaskState.FAILED and "gave up after 3 attempts" in (done.error or "")


def test_a_stopping_runner_hands_its_task_back(registry: Any, source: Source):
    _version(registry)
    entered, release = threading.Event(), threading.Event()

    class SlowFetcher(UrlFetcher):
        def read(self, url: str) -> Any:
            entered.set()
            release.wait(10)
            yield b"partial"

    slow = make_imports(registry, SlowFetcher(policy=AddressPolicy.parse("127.0.0.1")))
    task = slow.service.import_files(
        registry.admin, "default", "m", "1", {"a": source.add("a", b"1")}
    )
    slow.runner.poll_interval = 0.05
    slow.runner.start()
    assert entered.wait(10)
    stopper = threading.Thread(target=slow.runner.stop)
    stopper.start()
    release.set()
    stopper.join(10)
    back = slow.service.get_task(registry.admin, task.id)
    assert back.state == TaskState.CREATED and back.attempts == 0 and back.lease_owner is None
    assert registry.blob_files() == [] and registry.tmp_files() == []


def test_postgresql_claims_skip_tasks_another_server_holds(pg_registry: Any, source: Source):
    imports = make_imports(pg_registry, UrlFetcher(policy=AddressPolicy.parse("127.0.0.1")))
    _version(pg_registry)
    first, second = (
        imports.service.import_files(
            pg_registry.admin, "default", "m", "1", {p: source.add(p, b"x")}
        )
        for p in ("a", "b")
    )
    engine = imports.store._store.engine
    now = datetime.now(UTC)
    with engine.connect() as other:  # another server is in the middle of claiming `first`
        other.execute(sa.text("SELECT id FROM tasks WHERE id = :id FOR UPDATE"), {"id": first.id})
        claimed = imports.store.claim_task("me", now, now + timedelta(minutes=1))
        other.rollback()
    assert claimed is not None and claimed.id == second.id
    again = imports.store.claim_task("me", now, now + timedelta(minutes=1))
    assert again is not None and again.id == first.id
    assert imports.store.claim_task("me", now, now + timedelta(minutes=1)) is None


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("100.64.0.1", "not a globally routable"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_the_guard_refuses_non_public_addresses(address: str, rule: str):
    policy = AddressPolicy(resolver=lambda host, port: [address])
    with pytest.raises(SourceError, match=rule):
        policy.addresses("example.com", 80)


def test_the_guard_checks_every_address_and_honours_the_allowlist():
    both = AddressPolicy(resolver=lambda host, port: ["93.184.215.14", "10.0.0.5"])
    with pytest.raises(SourceError, match=r"example.com \(10.0.0.5\) is a private address"):
        both.addresses("example.com", 443)
    assert AddressPolicy(resolver=lambda h, p: ["93.184.215.14"]).addresses("x.org", 80) == [
        "93.184.215.14"
    ]
    allowed = AddressPolicy.parse(
        "10.0.0.0/8, internal.example", resolver=lambda h, p: ["10.9.9.9"]
    )
    assert allowed.addresses("anything.example", 80) == ["10.9.9.9"]
    named = AddressPolicy.parse("internal.example", resolver=lambda h, p: ["127.0.0.1"])
    assert named.addresses("Internal.Example.", 80) == ["127.0.0.1"]
    with pytest.raises(ValueError, match="MODELYARD_IMPORT_ALLOWED_HOSTS"):
        AddressPolicy.parse("10.0.0.0/33")


def test_the_size_limit_stops_an_import(registry: Any, source: Source):
    _version(registry)
    small = make_imports(
        registry, UrlFetcher(policy=AddressPolicy.parse("127.0.0.1"), max_bytes=10)
    )
    task = small.service.import_files(
        registry.admin, "default", "m", "1", {"big": source.add("big", b"x" * 11)}
    )
    small.runner.run_pending()
    done = small.service.get_task(registry.admin, task.id)
    assert done.state == TaskState.FAILED and "MODELYARD_IMPORT_MAX_BYTES" in (done.error or "")
    assert registry.blob_files() == [] and registry.tmp_files() == []


def test_the_task_store_maps_every_column(registry: Any, imports: Imports, source: Source):
    _version(registry)
    task = imports.service.import_files(
        registry.admin, "default", "m", "1", {"a": source.add("a", b"1")}, finish=True
    )
    stored = SqlTaskStore(registry.service.store).get_task(task.id)
    assert stored is not None
    assert (stored.namespace, stored.model, stored.version, stored.created_by) == (
        "default",
        "m",
        "1",
        "admin",
    )
    assert stored.params["finish"] is True and stored.state == TaskState.CREATED


def _card_version(registry: Any, imports: Imports, source: Source, card: bytes) -> Any:
    registry.service.create_model(registry.admin, name="m")
    files = {"README.md": source.add("README.md", card), "w.bin": source.add("w.bin", b"w")}
    _, task = imports.service.create_version(
        registry.admin, "default", "m", files, card_file="README.md", label="1"
    )
    assert imports.runner.run_pending() == 1
    return imports.service.get_task(registry.admin, task.id)


def test_a_card_file_becomes_the_model_card_once_the_version_is_ready(
    registry: Any, imports: Imports, source: Source
):
    task = _card_version(registry, imports, source, "# m\n\nSees ✓ and ✗.\n".encode())
    assert task.state == TaskState.COMPLETED
    assert registry.service.get_model(registry.admin, "default", "m").model_card == (
        "# m\n\nSees ✓ and ✗.\n"
    )


def test_a_card_file_that_is_not_text_fails_the_version(
    registry: Any, imports: Imports, source: Source
):
    task = _card_version(registry, imports, source, b"\xff\xfe\x00binary")
    assert task.state == TaskState.FAILED and "README.md, the model card, is not UTF-8" in str(
        task.error
    )
    version = registry.service.get_version(registry.admin, "default", "m", "1")
    assert version.state == "FAILED"
    assert registry.service.get_model(registry.admin, "default", "m").model_card is None


def test_a_card_file_must_be_one_of_the_files(registry: Any, imports: Imports, source: Source):
    registry.service.create_model(registry.admin, name="m")
    with pytest.raises(InvalidArgument, match=r"card_file: 'card\.md' is not one of the files"):
        imports.service.create_version(
            registry.admin, "default", "m", {"a": source.add("a", b"1")}, card_file="card.md"
        )
    assert registry.service.list_versions(registry.admin, "default", "m").items == []
