"""Webhooks over the REST API, delivered to a real receiver on 127.0.0.1: every event once, in
order, signed; retried while the receiver is down; managed by namespace admins only."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
from events_support import Live, Receiver, create_model, eventually

HOOKS = "/api/v1/namespaces/{ns}/webhooks"


def _hooks(ns: str = "default") -> str:
    return HOOKS.format(ns=ns)


def _register(client: httpx.Client, url: str, ns: str = "default", **body: Any) -> dict[str, Any]:
    r = client.post(_hooks(ns), json={"url": url, **body})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{_hooks(ns)}/{r.json()['id']}"
    return r.json()


def _deliveries(client: httpx.Client, hook: dict[str, Any]) -> list[dict[str, Any]]:
    r = client.get(f"{_hooks(hook['namespace'])}/{hook['id']}/deliveries")
    assert r.status_code == 200, r.text
    return list(r.json()["deliveries"])


def _valid_signature(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def test_every_event_arrives_once_in_order_after_the_receiver_was_down(
    live: Live, receiver: Receiver
) -> None:
    admin = live.admin
    create_model(admin, "before")  # older than the webhook: never sent
    hook = _register(admin, receiver.url)
    secret = hook.pop("secret")
    assert secret.startswith("whsec_") and len(secret) > 32
    assert hook["events"] is None and hook["active"] is True and hook["created_by"] == "admin"

    # The receiver is down: connections are refused, and the first delivery is retried.
    create_model(admin, "a")
    r = admin.post("/api/v1/models/default/a/versions", json={"version": "1"})
    assert r.status_code == 201, r.text
    create_model(admin, "b", access="public")
    create_model(admin, "elsewhere", namespace="other")  # not this namespace's
    r = admin.patch("/api/v1/models/default/a", json={"description": "changed"})
    assert r.status_code == 200, r.text
    eventually(
        lambda: any(d["attempts"] >= 3 for d in _deliveries(admin, hook)), 10, "three attempts"
    )
    pending = _deliveries(admin, hook)
    assert [d["state"] for d in pending] == ["PENDING"] * 4
    first = pending[-1]  # newest first
    assert first["last_status"] is None and "cannot reach" in first["last_error"]
    assert all(d["attempts"] == 0 for d in pending[:-1])  # held back behind the first
    assert receiver.received == []

    receiver.start()
    eventually(lambda: len(receiver.received) >= 4, 10, "four deliveries")
    eventually(
        lambda: all(d["state"] == "DELIVERED" for d in _deliveries(admin, hook)), 10, "all done"
    )
    got = receiver.bodies()
    assert [(e["action"], e["model"]) for e in got] == [
        ("model.create", "a"),
        ("version.create", "a"),
        ("model.create", "b"),
        ("model.update", "a"),
    ]
    ids = [e["id"] for e in got]
    assert ids == sorted(set(ids))  # in order, each once
    assert got[1]["version"] == "1"
    for request, event in zip(receiver.received, got, strict=True):
        headers = request.headers
        assert headers["content-type"] == "application/json"
        assert headers["x-modelyard-event"] == event["action"]
        assert headers["x-modelyard-delivery"] == event["delivery"]
        assert headers["x-modelyard-timestamp"].isdigit()
        assert _valid_signature(secret, request.body, headers["x-modelyard-signature"])
        assert event["webhook"] == hook["id"]
        assert event["namespace"] == "default" and event["actor"] == "admin"

    history = _deliveries(admin, hook)
    assert [d["event_id"] for d in history] == ids[::-1]
    assert history[-1]["attempts"] > 1 and history[-1]["last_error"] is None
    assert all(d["last_status"] == 200 and d["delivered_at"] for d in history)
    assert [d["attempts"] for d in history[:-1]] == [1, 1, 1]
    assert {d["action"] for d in history} == {"model.create", "version.create", "model.update"}


def test_events_filter_error_answers_and_pausing(live: Live, receiver: Receiver) -> None:
    admin = live.admin
    receiver.start()
    create_model(admin, "m")
    hook = _register(admin, receiver.url, events=["version.", "model.delete"], secret="s" * 20)
    assert hook["secret"] == "s" * 20 and hook["events"] == ["version.", "model.delete"]
    receiver.status = 500
    create_model(admin, "n")  # not wanted
    assert admin.post("/api/v1/models/default/m/versions", json={}).status_code == 201
    eventually(
        lambda: any(d["attempts"] >= 2 for d in _deliveries(admin, hook)), 10, "retried on 500"
    )
    assert _deliveries(admin, hook)[0]["last_status"] == 500
    receiver.status = 204
    eventually(lambda: _deliveries(admin, hook)[0]["state"] == "DELIVERED", 10, "delivered")
    assert [e["action"] for e in receiver.bodies()][-1] == "version.create"
    assert {e["action"] for e in receiver.bodies()} == {"version.create"}

    # Paused: nothing is sent; made active again, it catches up.
    url = f"{_hooks()}/{hook['id']}"
    r = admin.patch(url, json={"active": False, "events": None})
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["events"] is None
    count = len(receiver.received)
    create_model(admin, "while-paused")
    assert admin.delete("/api/v1/models/default/n").status_code in (200, 204)
    assert len(receiver.received) == count
    assert admin.patch(url, json={"active": True}).json()["active"] is True
    eventually(lambda: len(receiver.received) == count + 2, 10, "caught up")
    assert [e["action"] for e in receiver.bodies()[-2:]] == ["model.create", "model.delete"]

    listed = admin.get(_hooks()).json()["webhooks"]
    assert [w["id"] for w in listed] == [hook["id"]]
    assert "secret" not in listed[0] and "secret" not in admin.get(url).json()
    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404


def test_refusals(live: Live, receiver: Receiver, assert_problem: Any) -> None:
    hub = live.registry
    admin = live.admin
    create_model(admin, "x")  # namespace "default" comes into being with its first model
    owner, owner_token = hub.user("owner")  # will admin namespace "team"
    _, reader_token = hub.user("reader")  # a reader member of "team"
    _, outsider_token = hub.user("outsider")
    hub.service.create_namespace(owner, name="team")
    hub.service.set_namespace_member(hub.admin, "team", "reader", "reader")
    owner_client = live.client(owner_token)
    hook = _register(owner_client, receiver.url, ns="team")
    url = f"{_hooks('team')}/{hook['id']}"

    def refused(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
        assert_problem(r, status, code, field)

    for bad in ("ftp://127.0.0.1/x", "http:///nohost", "not a url", "http://169.254.169.254/"):
        refused(
            owner_client.post(_hooks("team"), json={"url": bad}), 422, "INVALID_ARGUMENT", "url"
        )
    body = {"url": receiver.url}
    refused(
        owner_client.post(_hooks("team"), json={**body, "secret": "short"}),
        422,
        "INVALID_ARGUMENT",
        "secret",
    )
    refused(
        owner_client.post(_hooks("team"), json={**body, "events": ["Model Create"]}),
        422,
        "INVALID_ARGUMENT",
        "events[0]",
    )
    refused(owner_client.post(_hooks("team"), json={**body, "extra": 1}), 422, "INVALID_ARGUMENT")
    refused(
        owner_client.patch(url, json={"url": "http://10.0.0.1/"}), 422, "INVALID_ARGUMENT", "url"
    )

    reader = live.client(reader_token)
    refused(reader.post(_hooks("team"), json=body), 403, "PERMISSION_DENIED")
    refused(reader.get(_hooks("team")), 403, "PERMISSION_DENIED")
    refused(reader.get(url), 403, "PERMISSION_DENIED")
    refused(reader.delete(url), 403, "PERMISSION_DENIED")
    outsider = live.client(outsider_token)
    refused(outsider.post(_hooks("team"), json=body), 404, "NAMESPACE_NOT_FOUND")
    refused(outsider.get(f"{url}/deliveries"), 404, "NAMESPACE_NOT_FOUND")
    refused(owner_client.get(f"{_hooks('team')}/{'0' * 32}"), 404, "NOT_FOUND")
    refused(owner_client.get(f"{_hooks('default')}/{hook['id']}"), 404, "NAMESPACE_NOT_FOUND")
    refused(admin.get(f"{_hooks('default')}/{hook['id']}"), 404, "NOT_FOUND")  # another namespace's
    refused(admin.get(_hooks("nowhere")), 404, "NAMESPACE_NOT_FOUND")
    read_only = hub.service.create_token(owner, name="ro", scope="read").token
    refused(live.client(read_only).post(_hooks("team"), json=body), 403, "PERMISSION_DENIED")
    assert live.client(read_only).get(_hooks("team")).status_code == 200
    refused(live.client(None).get(_hooks("team")), 401, "UNAUTHENTICATED")

    # An admin of the namespace, and admins, manage it.
    assert admin.get(url).json()["created_by"] == "owner"
    assert owner_client.get(f"{url}/deliveries").json() == {
        "deliveries": [],
        "next_page_token": None,
    }


def test_a_creator_who_lost_access_is_sent_only_what_they_can_still_read(
    live: Live, receiver: Receiver
) -> None:
    hub = live.registry
    owner, owner_token = hub.user("owner")
    _, writer_token = hub.user("writer")
    hub.service.create_namespace(owner, name="team")
    hub.service.set_namespace_member(hub.admin, "team", "writer", "writer")
    receiver.start()
    hook = _register(live.client(owner_token), receiver.url, ns="team")
    hub.service.set_namespace_member(hub.admin, "team", "owner", None)  # no longer its admin
    writer = live.client(writer_token)
    create_model(writer, "private", namespace="team")
    create_model(writer, "public", namespace="team", access="public")
    eventually(lambda: len(receiver.received) == 1, 10, "one delivery")
    assert [e["model"] for e in receiver.bodies()] == ["public"]
    # Newest first: the public model's, then the private one's, skipped for good.
    states = [(d["state"], d["last_error"]) for d in _deliveries(live.admin, hook)]
    assert states[0] == ("DELIVERED", None)
    assert states[1][0] == "FAILED" and "owner, who made the webhook, may not read" in states[1][1]
