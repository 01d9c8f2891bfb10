"""The event stream: followers get the events of the models they may read, nothing else, in
order; resuming with Last-Event-ID gets what was missed exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from events_support import Live, create_model, eventually, follow, saw

from modelyard.client._transport import Transport
from modelyard.client.events import events_page, iter_events
from modelyard.errors import Unauthenticated


def test_followers_get_only_the_events_of_models_they_can_read(live: Live) -> None:
    hub = live.registry
    _, alice_token = hub.user("alice")
    _, bob_token = hub.user("bob")
    alice, bob = live.client(alice_token), live.client(bob_token)
    with follow(alice) as stream:
        create_model(bob, "secret")  # private: alice may not read it
        create_model(live.admin, "admins-only")
        create_model(bob, "shared", access="public")
        r = bob.patch("/api/v1/models/default/secret", json={"description": "still private"})
        assert r.status_code == 200
        create_model(alice, "mine")
        events = stream.read(saw("model.create", "mine"))
    assert [(e["action"], e["model"]) for e in events] == [
        ("model.create", "shared"),
        ("model.create", "mine"),
    ]
    assert [e["actor"] for e in events] == ["bob", "alice"]
    assert events[0]["id"] < events[1]["id"]
    assert set(events[0]) == {
        "id",
        "at",
        "action",
        "actor",
        "namespace",
        "model",
        "version",
        "detail",
    }
    assert events[0]["namespace"] == "default"

    # An admin reads every one of them; a namespace filter narrows them.
    page = live.admin.get("/api/v1/events/page", params={"since": 0}).json()
    assert [e["model"] for e in page["events"]] == [
        "secret",
        "admins-only",
        "shared",
        "secret",
        "mine",
    ]
    assert page["last_id"] == events[-1]["id"]
    other = live.admin.get("/api/v1/events/page", params={"since": 0, "namespace": "other"})
    assert other.json() == {"events": [], "last_id": events[-1]["id"]}


def test_a_reader_that_loses_access_stops_getting_events(live: Live) -> None:
    hub = live.registry
    _, alice_token = hub.user("alice")
    _, bob_token = hub.user("bob")
    alice, bob = live.client(alice_token), live.client(bob_token)
    create_model(bob, "m", access="public")
    with follow(alice) as stream:
        assert bob.patch("/api/v1/models/default/m", json={"task": "one"}).status_code == 200
        stream.read(saw("model.update", "m"))
        # Private from now on: what happens to it next is not alice's to see any more.
        assert bob.patch("/api/v1/models/default/m", json={"access": "private"}).status_code == 200
        assert bob.patch("/api/v1/models/default/m", json={"task": "two"}).status_code == 200
        create_model(bob, "sentinel", access="public")
        events = stream.read(saw("model.create", "sentinel"))
    assert [e["model"] for e in events] == ["sentinel"]


def test_resuming_with_last_event_id_gets_the_missed_events_once(live: Live) -> None:
    hub = live.registry
    _, alice_token = hub.user("alice")
    _, bob_token = hub.user("bob")
    alice, bob = live.client(alice_token), live.client(bob_token)
    with follow(alice) as stream:
        create_model(alice, "first")
        seen = stream.read(saw("model.create", "first"))
    last = seen[-1]["id"]
    # Missed while away: two of hers, one she may not read.
    create_model(alice, "second")
    create_model(bob, "hidden")
    create_model(alice, "third", access="public")
    with follow(alice, headers={"Last-Event-ID": str(last)}, since=0) as stream:
        create_model(alice, "fourth")
        events = stream.read(saw("model.create", "fourth"))
    assert [e["model"] for e in events] == ["second", "third", "fourth"]
    # Hung up: the server let go of both streams (only the dispatcher listens now).
    eventually(lambda: len(hub.webhooks._subscribers) == 1, 5, "the streams were let go")
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids)) and ids[0] > last

    # The same through the SDK, which resumes by itself; and the page API.
    transport = Transport(live.url, alice_token, 10.0)
    try:
        stream_events = iter_events(transport, since=last)
        got = [next(stream_events).model for _ in range(3)]
        stream_events.close()
    finally:
        transport.close()
    assert got == ["second", "third", "fourth"]
    page = alice.get("/api/v1/events/page", params={"since": last, "limit": 2}).json()
    assert [e["model"] for e in page["events"]] == ["second", "third"]
    assert page["last_id"] == ids[1]
    rest = alice.get("/api/v1/events/page", params={"since": page["last_id"]}).json()
    assert [e["model"] for e in rest["events"]] == ["fourth"]


def test_a_revoked_token_ends_the_stream(live: Live) -> None:
    hub = live.registry
    _, alice_token = hub.user("alice")
    transport = Transport(live.url, alice_token, 10.0)
    try:
        # A generator connects on the first next(): start from a position taken now.
        start = events_page(transport).last_id
        events = iter_events(transport, since=start, retry_delay=0.05)
        create_model(live.client(alice_token), "m")
        assert next(events).model == "m"
        alice = hub.refreshed(alice_token)
        token_id = hub.service.list_tokens(alice)[0].id
        hub.service.revoke_token(hub.admin, token_id)
        with pytest.raises(Unauthenticated):
            next(events)  # the server ends the stream; the SDK's reconnect is refused
    finally:
        transport.close()


def test_deleted_models_events_reach_admins_only(live: Live) -> None:
    hub = live.registry
    _, alice_token = hub.user("alice")
    _, bob_token = hub.user("bob")
    alice, bob = live.client(alice_token), live.client(bob_token)
    start = alice.get("/api/v1/events/page").json()
    assert start["events"] == []
    create_model(bob, "gone", access="public")
    assert alice.get("/api/v1/events/page", params={"since": start["last_id"]}).json()["events"]
    assert bob.delete("/api/v1/models/default/gone").status_code in (200, 204)
    page = alice.get("/api/v1/events/page", params={"since": start["last_id"]}).json()
    assert page["events"] == []
    admin_page = live.admin.get("/api/v1/events/page", params={"since": start["last_id"]})
    assert [e["action"] for e in admin_page.json()["events"]] == ["model.create", "model.delete"]


def test_bad_arguments_are_refused_before_the_stream_starts(
    live: Live, assert_problem: Any
) -> None:
    admin = live.admin
    assert_problem(
        admin.get("/api/v1/events", params={"since": -1}), 422, "INVALID_ARGUMENT", "since"
    )
    assert_problem(
        admin.get("/api/v1/events", headers={"Last-Event-ID": "x"}),
        422,
        "INVALID_ARGUMENT",
        "header.Last-Event-ID",
    )
    assert_problem(
        admin.get("/api/v1/events", params={"namespace": "../x"}),
        422,
        "INVALID_ARGUMENT",
        "namespace",
    )
    assert_problem(
        admin.get("/api/v1/events/page", params={"limit": 0}), 422, "INVALID_ARGUMENT", "limit"
    )
    assert_problem(live.client(None).get("/api/v1/events"), 401, "UNAUTHENTICATED")
