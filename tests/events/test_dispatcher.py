"""The dispatcher's rules and its claims: servers sharing one database (SQLite, PostgreSQL)
send each delivery once, each webhook's in event order; the signature, the retry schedule,
the events filter and where the stream may be read up to."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from events_support import Registry, make_dispatcher, make_registry

from modelyard.dispatcher import Dispatcher, HttpSender
from modelyard.domain.audit import DeliveryState
from modelyard.domain.webhooks import (
    GAP_GRACE,
    RetryPolicy,
    SendFailed,
    matches,
    settled_position,
    sign,
)
from modelyard.imports.guard import AddressPolicy


class RecordingSender:
    """Answers 200 to every delivery after a short pause, and remembers what it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []  # (webhook url, event id)
        self._lock = threading.Lock()

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        time.sleep(0.002)  # long enough for the dispatchers to overlap
        with self._lock:
            self.sent.append((url, json.loads(body)["id"]))
        return 200


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Registry:
    """The registry on SQLite, then on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "clean_pg_engine"
    engine: sa.Engine = request.getfixturevalue(name)
    return make_registry(engine, tmp_path / "blobs")


def test_two_dispatchers_send_each_delivery_once_and_in_order(shared: Registry) -> None:
    hub = shared
    hub.service.create_model(hub.admin, name="seed")  # namespace "default" exists from here
    hooks = [
        hub.webhooks.create_webhook(hub.admin, "default", url=f"http://127.0.0.1:9/{i}").webhook
        for i in range(3)
    ]
    for i in range(12):
        hub.service.create_model(hub.admin, name=f"m{i}")
    sender = RecordingSender()
    one, two = make_dispatcher(hub, sender), make_dispatcher(hub, sender)
    assert one.owner != two.owner

    def work(dispatcher: Dispatcher) -> None:
        deadline = time.monotonic() + 20
        while len(sender.sent) < 36 and time.monotonic() < deadline:
            dispatcher.run_once()

    threads = [threading.Thread(target=work, args=(d,)) for d in (one, two, one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sender.sent) == 36, sender.sent
    assert len(set(sender.sent)) == 36  # none twice
    for hook in hooks:
        ids = [event for url, event in sender.sent if url == hook.url]
        assert len(ids) == 12 and ids == sorted(ids)  # each webhook's in event order
        page = hub.webhooks.list_deliveries(hub.admin, "default", hook.id)
        assert {d.state for d in page.items} == {DeliveryState.DELIVERED}
        assert {d.attempts for d in page.items} == {1}
    assert one.run_once() == 0 and two.run_once() == 0


def test_a_failing_delivery_is_retried_on_schedule_then_failed(
    sqlite_engine: sa.Engine, tmp_path: Path
) -> None:
    retry = RetryPolicy(base=10.0, cap=25.0, max_attempts=3)
    hub = make_registry(sqlite_engine, tmp_path / "blobs", retry=retry)
    hub.service.create_model(hub.admin, name="seed")
    hook = hub.webhooks.create_webhook(hub.admin, "default", url="http://127.0.0.1:9/").webhook
    hub.service.create_model(hub.admin, name="m")
    now = [datetime.now(UTC)]

    def refuse(url: str, body: bytes, headers: Mapping[str, str]) -> int:
        raise SendFailed("no route")

    dispatcher = make_dispatcher(hub, refuse, clock=lambda: now[0], threads=1)
    waits = []
    for _ in range(3):
        assert dispatcher.run_once() == 1
        assert dispatcher.run_once() == 0  # not due yet
        (delivery,) = hub.webhooks.list_deliveries(hub.admin, "default", hook.id).items
        waits.append(delivery.next_attempt_at - now[0])
        now[0] = delivery.next_attempt_at
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == 3
    assert delivery.last_error == "gave up after 3 attempts: no route"
    assert waits[:2] == [timedelta(seconds=10), timedelta(seconds=20)]


def test_rules() -> None:
    assert matches(None, "model.create")
    assert matches(["version.", "model.delete"], "version.finish")
    assert matches(["version.", "model.delete"], "model.delete")
    assert not matches(["version.", "model.delete"], "model.create")
    assert not matches(["model"], "model.create")
    assert sign("k", b"{}") == "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
    retry = RetryPolicy(base=5, cap=3600, max_attempts=12)
    assert [retry.delay(n).total_seconds() for n in (1, 2, 3, 11, 12)] == [5, 10, 20, 3600, 3600]

    now = datetime.now(UTC)
    old, fresh = now - GAP_GRACE - timedelta(seconds=1), now
    assert settled_position(4, [], now) == 4
    assert settled_position(4, [(5, fresh), (6, fresh)], now) == 6
    assert settled_position(4, [(5, fresh), (7, fresh)], now) == 5  # 6 may still commit
    assert settled_position(4, [(5, old), (7, old), (8, fresh)], now) == 8  # 6 never will


def test_the_sender_keeps_to_the_ssrf_guard() -> None:
    sender = HttpSender(AddressPolicy(), timeout=1.0)  # nothing but public addresses
    try:
        with pytest.raises(SendFailed, match="SSRF guard"):
            sender("http://127.0.0.1:9/hook", b"{}", {})
        with pytest.raises(SendFailed, match="SSRF guard"):
            sender("http://169.254.169.254/latest", b"{}", {})
    finally:
        sender.close()
    open_sender = HttpSender(AddressPolicy.parse("127.0.0.1"), timeout=1.0)
    try:
        with pytest.raises(SendFailed, match="cannot reach"):
            open_sender("http://127.0.0.1:9/hook", b"{}", {})  # nothing listens on port 9
    finally:
        open_sender.close()


def test_without_an_active_webhook_a_round_writes_nothing(
    sqlite_engine: sa.Engine, tmp_path: Path
) -> None:
    """Every write wakes the dispatcher: with no webhook it must not claim deliveries (a
    write transaction each time, which halved the create rate under load)."""
    registry = make_registry(sqlite_engine, tmp_path / "blobs")
    dispatcher = make_dispatcher(registry, RecordingSender())
    claims: list[object] = []
    claim = dispatcher.store.claim_deliveries

    def counted(*args: object, **kwargs: object) -> object:
        claims.append(args)
        return claim(*args, **kwargs)  # type: ignore[arg-type]

    dispatcher.store.claim_deliveries = counted  # type: ignore[method-assign]
    registry.service.create_model(registry.admin, name="quiet")
    assert dispatcher.run_once() == 0
    assert claims == []
    registry.webhooks.create_webhook(registry.admin, "default", url="http://127.0.0.1:9/hook")
    dispatcher.run_once()
    assert len(claims) == 1
