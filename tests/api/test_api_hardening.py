"""Behaviour pinned after the review: UTF-8 download names, tags resolving to the right
version, numeric labels, non-finite metrics, namespace visibility, tag history on version
delete, an empty /fail, and concurrent tag moves and uploads on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
from api_helpers import create_model, create_version, model_url, sha256, upload, version_url

from modelyard.errors import ErrorCode

# -- B.1 download names ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["模型.bin", 'a"b.bin', "a b;c=d.bin"])
def test_download_names_are_utf8_encoded(api: Any, name: str) -> None:
    create_model(api.admin, "m")
    create_version(api.admin, "m", version="1.0.0")
    r = upload(api.admin, "m", "1.0.0", "dir/" + name, b"payload")
    assert r.status_code == 201, r.text
    assert r.json()["path"] == "dir/" + name
    r = api.admin.get(version_url("m", "1.0.0") + "/files/dir/" + quote(name))
    assert r.status_code == 200, r.text
    assert r.content == b"payload"
    disposition = r.headers["content-disposition"]
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition, disposition
    assert disposition.isascii()
    # the ASCII fallback is one quoted-string: no bare quote closes it early
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert disposition.count('"') == 2 and fallback.isascii()


# -- B.2 tags resolve to the version named --------------------------------------------------


def test_tag_put_and_get_return_the_version_named(api: Any) -> None:
    create_model(api.admin, "m")
    v1 = create_version(api.admin, "m", version="1.0.0")
    v2 = create_version(api.admin, "m", version="2.0.0")
    v3 = create_version(api.admin, "m")  # label "3"
    tag = model_url("m") + "/tags/prod"
    for ref, want in [("2.0.0", v2), ("1.0.0", v1), ("3", v3), ("2", v2), ("1", v1)]:
        r = api.admin.put(tag, json={"version": ref})
        assert r.status_code == 200, r.text
        assert (r.json()["id"], r.json()["number"]) == (want["id"], want["number"]), ref
        assert r.json()["tags"] == ["prod"]
        got = api.admin.get(tag)
        assert got.status_code == 200
        assert (got.json()["id"], got.json()["number"]) == (want["id"], want["number"]), ref
    assert api.admin.get(model_url("m") + "/tags").json()["tags"] == {"prod": 1}


# -- B.3 numeric labels ---------------------------------------------------------------------


def test_numeric_label_must_be_the_versions_own_number(api: Any, assert_problem: Any) -> None:
    create_model(api.admin, "m")
    versions = model_url("m") + "/versions"
    r = api.admin.post(versions, json={"version": "2"})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="version")
    assert api.admin.get(versions).json()["versions"] == []
    first = create_version(api.admin, "m", version="1")
    assert (first["number"], first["version"]) == (1, "1")
    second = create_version(api.admin, "m")
    assert (second["number"], second["version"]) == (2, "2")
    third = create_version(api.admin, "m", version="3.0")
    assert (third["number"], third["version"]) == (3, "3.0")
    for label in ("3", "1", "5", "99999999999999999999"):
        r = api.admin.post(versions, json={"version": label})
        assert r.status_code in (409, 422), (label, r.text)
        assert_problem(r, r.status_code, r.json()["code"], field="version")
    fourth = create_version(api.admin, "m", version="4")
    assert (fourth["number"], fourth["version"]) == (4, "4")
    listed = api.admin.get(versions).json()["versions"]
    assert [(v["number"], v["version"]) for v in listed] == [
        (1, "1"),
        (2, "2"),
        (3, "3.0"),
        (4, "4"),
    ]
    assert api.admin.get(version_url("m", "3")).json()["id"] == third["id"]


# -- B.4 non-finite metrics -----------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("field", ["value", "wallclock"])
def test_non_finite_metrics_are_refused(
    api: Any, assert_problem: Any, literal: str, field: str
) -> None:
    create_model(api.admin, "m")
    create_version(api.admin, "m")
    for where in (version_url("m", "1"), model_url("m")):
        metric = '{"key": "a", "value": 1.0, "wallclock": 5.0}'.replace(
            f'"{field}": ' + ("1.0" if field == "value" else "5.0"), f'"{field}": {literal}'
        )
        body = '{"metrics": [' + metric + "]}"
        r = api.admin.post(
            where + "/metrics", content=body, headers={"content-type": "application/json"}
        )
        assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field=f"metrics[0].{field}")
        r = api.admin.get(where + "/metrics")
        assert r.status_code == 200, r.text
        assert r.json()["metrics"] == []


# -- B.7 namespaces by visibility -----------------------------------------------------------


def test_namespaces_list_only_what_the_caller_can_read(api: Any) -> None:
    bob, carol = api.client_for("bob"), api.client_for("carol")
    create_model(bob, "secret", namespace="bobs")
    create_model(bob, "shared", namespace="open", access="public")
    create_model(api.admin, "adm", namespace="admins")

    def names(client: Any) -> list[str]:
        r = client.get("/api/v1/namespaces")
        assert r.status_code == 200, r.text
        return [n["name"] for n in r.json()["namespaces"]]

    assert names(carol) == ["open"]
    assert names(bob) == ["bobs", "open"]
    assert names(api.admin) == ["admins", "bobs", "open"]


# -- B.8 deleting a tagged version ----------------------------------------------------------


def test_deleting_a_tagged_version_records_the_tag_removal(api: Any) -> None:
    create_model(api.admin, "m")
    create_version(api.admin, "m")
    create_version(api.admin, "m")
    for tag, ref in (("prod", "2"), ("staging", "2"), ("old", "1")):
        assert api.admin.put(model_url("m") + f"/tags/{tag}", json={"version": ref}).is_success
    assert api.admin.delete(version_url("m", "2")).status_code == 204
    assert api.admin.get(model_url("m") + "/tags").json()["tags"] == {"old": 1}
    for tag in ("prod", "staging"):
        events = api.admin.get(model_url("m") + f"/tags/{tag}/history").json()["events"]
        assert [
            (e["action"], e["version_number"], e["previous_version_number"], e["moved_by"])
            for e in events
        ] == [("set", 2, None, "admin"), ("removed", None, 2, "admin")], tag
        assert api.admin.get(model_url("m") + f"/tags/{tag}").status_code == 404
    old = api.admin.get(model_url("m") + "/tags/old/history").json()["events"]
    assert [e["action"] for e in old] == ["set"]


# -- B.9 fail without a body ----------------------------------------------------------------


def test_fail_without_a_body(api: Any) -> None:
    create_model(api.admin, "m")
    create_version(api.admin, "m")
    r = api.admin.post(version_url("m", "1") + "/fail")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "FAILED" and r.json()["status_message"] is None
    assert api.admin.get(version_url("m", "1")).json()["state"] == "FAILED"


# -- B.6 concurrency on PostgreSQL ----------------------------------------------------------

CONCURRENCY = 20


def in_parallel(calls: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_concurrent_tag_moves_keep_one_consistent_history(pg_api: Any) -> None:
    api = pg_api
    create_model(api.admin, "m")
    create_version(api.admin, "m")
    create_version(api.admin, "m")
    clients = [api.client(api.registry.admin_token) for _ in range(CONCURRENCY)]
    url = model_url("m") + "/tags/prod"
    responses = in_parallel(
        [
            lambda c=c, i=i: c.put(url, json={"version": str(i % 2 + 1)})
            for i, c in enumerate(clients)
        ]
    )
    assert [r.status_code for r in responses] == [200] * CONCURRENCY, [
        r.text for r in responses if r.status_code != 200
    ]
    for i, r in enumerate(responses):
        # the version named; its "tags" may already show a later move by another request
        assert r.json()["number"] == i % 2 + 1
    events = api.admin.get(url + "/history").json()["events"]
    assert 2 <= len(events) <= CONCURRENCY
    previous = None
    for e in events:  # a chain: each move starts where the last one left the tag
        assert e["action"] == "set"
        assert e["previous_version_number"] == previous, events
        assert e["version_number"] != previous, events  # no event without a move
        previous = e["version_number"]
    assert api.admin.get(model_url("m") + "/tags").json()["tags"] == {"prod": previous}
    assert api.admin.get(url).json()["number"] == previous


def test_concurrent_uploads_to_one_model_file_leave_one_row(pg_api: Any) -> None:
    api = pg_api
    create_model(api.admin, "m")
    clients = [api.client(api.registry.admin_token) for _ in range(CONCURRENCY)]
    payloads = [f"payload {i}".encode() for i in range(CONCURRENCY)]
    responses = in_parallel(
        [
            lambda c=c, data=data: upload(c, "m", None, "card/README.md", data)
            for c, data in zip(clients, payloads, strict=True)
        ]
    )
    assert [r.status_code for r in responses] == [201] * CONCURRENCY, [
        r.text for r in responses if r.status_code != 201
    ]
    files = api.admin.get(model_url("m") + "/files").json()["files"]
    assert [f["path"] for f in files] == ["card/README.md"]
    content = api.admin.get(model_url("m") + "/files/card/README.md").content
    assert content in payloads and files[0]["sha256"] == sha256(content)


def test_tag_moves_racing_a_version_delete_keep_the_history_true(pg_api: Any) -> None:
    """A tag moved onto a version while it is deleted is either refused (404) or removed with
    it, with a ``removed`` event: the history always ends where the tag really is."""
    api = pg_api
    create_model(api.admin, "m")
    for _ in range(3):
        create_version(api.admin, "m")
    clients = [api.client(api.registry.admin_token) for _ in range(CONCURRENCY)]
    url = model_url("m") + "/tags/prod"
    calls: list[Any] = [
        lambda c=c, i=i: c.put(url, json={"version": str(i % 2 + 1)})
        for i, c in enumerate(clients[:-1])
    ]
    calls.insert(CONCURRENCY // 2, lambda: clients[-1].delete(version_url("m", "2")))
    responses = in_parallel(calls)
    assert all(r.status_code in (200, 204, 404) for r in responses), [
        r.text for r in responses if r.status_code not in (200, 204, 404)
    ]
    assert responses[CONCURRENCY // 2].status_code == 204
    events = api.admin.get(url + "/history").json()["events"]
    previous = None
    for e in events:
        assert e["previous_version_number"] == previous, events
        previous = e["version_number"]
    tags = api.admin.get(model_url("m") + "/tags").json()["tags"]
    assert tags == ({} if previous is None else {"prod": previous}), (tags, events)
    assert previous in (None, 1)
