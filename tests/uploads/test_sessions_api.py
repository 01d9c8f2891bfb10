"""Upload sessions and dedup over the REST API (in-process): happy paths and every refusal."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

V = "/api/v1/models/default/m/versions/1"


def _setup(client: Any) -> None:
    assert client.post("/api/v1/models", json={"name": "m"}).status_code == 201
    assert client.post("/api/v1/models/default/m/versions", json={}).status_code == 201


def _start(client: Any, data: bytes, **extra: Any) -> dict[str, Any]:
    body = {"path": "weights.bin", "size": len(data), **extra}
    r = client.post(V + "/uploads", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _put(client: Any, upload_id: str, data: bytes, start: int, end: int) -> Any:
    return client.put(
        f"{V}/uploads/{upload_id}",
        content=data[start:end],
        headers={"Content-Range": f"bytes {start}-{end - 1}/{len(data)}"},
    )


def test_chunks_in_any_order_resume_and_finish_as_a_file(up: Any) -> None:
    c = up.api.admin
    _setup(c)
    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()
    s = _start(c, data, sha256=digest)
    assert s["received"] == [] and s["size"] == len(data) and s["chunk_size_hint"] > 0
    assert _put(c, s["id"], data, 200_000, 300_000).json()["received"] == [[200_000, 300_000]]
    assert _put(c, s["id"], data, 0, 100_000).status_code == 200
    # re-sending a received range changes nothing
    again = _put(c, s["id"], data, 0, 100_000)
    assert again.json()["received"] == [[0, 100_000], [200_000, 300_000]]
    got = c.get(f"{V}/uploads/{s['id']}").json()
    assert got["received"] == [[0, 100_000], [200_000, 300_000]]
    assert _put(c, s["id"], data, 100_000, 200_000).json()["received"] == [[0, 300_000]]
    done = c.post(f"{V}/uploads/{s['id']}/finish")
    assert done.status_code == 201, done.text
    assert done.json()["sha256"] == digest and done.json()["size"] == len(data)
    assert c.get(f"{V}/files/weights.bin").content == data
    assert up.staging_files() == []
    assert c.get(f"{V}/uploads/{s['id']}").status_code == 404


@pytest.fixture
def c(up: Any) -> Any:
    _setup(up.api.admin)
    return up.api.admin


@pytest.mark.parametrize(
    "header",
    ["bytes 0-9", "bytes=0-9/100", "bytes 9-0/100", "items 0-9/100", "bytes -5/100", ""],
)
def test_malformed_content_range_is_refused(c: Any, assert_problem: Any, header: str) -> None:
    s = _start(c, b"x" * 100)
    r = c.put(f"{V}/uploads/{s['id']}", content=b"x" * 10, headers={"Content-Range": header})
    assert_problem(r, 422, "INVALID_ARGUMENT", "Content-Range")


def test_ranges_outside_the_file_or_of_another_size_are_refused(
    c: Any, assert_problem: Any
) -> None:
    data = os.urandom(100)
    s = _start(c, data)
    url = f"{V}/uploads/{s['id']}"
    r = c.put(url, content=b"x" * 11, headers={"Content-Range": "bytes 90-100/100"})
    assert_problem(r, 422, "INVALID_ARGUMENT", "Content-Range")
    r = c.put(url, content=b"x" * 10, headers={"Content-Range": "bytes 0-9/200"})
    assert_problem(r, 422, "INVALID_ARGUMENT", "Content-Range")
    assert _put(c, s["id"], data, 0, 50).status_code == 200
    body = assert_problem(_put(c, s["id"], data, 40, 60), 422, "INVALID_ARGUMENT", "Content-Range")
    assert "overlap" in body["detail"]
    assert c.get(url).json()["received"] == [[0, 50]]


def test_a_body_that_does_not_match_its_range_records_nothing(c: Any, assert_problem: Any) -> None:
    s = _start(c, b"x" * 100)
    url = f"{V}/uploads/{s['id']}"
    short = c.put(url, content=b"x" * 10, headers={"Content-Range": "bytes 0-19/100"})
    assert_problem(short, 422, "INVALID_ARGUMENT", "body")
    long = c.put(url, content=b"x" * 30, headers={"Content-Range": "bytes 0-19/100"})
    assert_problem(long, 422, "INVALID_ARGUMENT", "body")
    assert c.get(url).json()["received"] == []


def test_finish_with_gaps_names_the_missing_bytes_and_keeps_the_session(
    c: Any, assert_problem: Any
) -> None:
    data = os.urandom(100)
    s = _start(c, data)
    _put(c, s["id"], data, 0, 30)
    _put(c, s["id"], data, 60, 100)
    body = assert_problem(
        c.post(f"{V}/uploads/{s['id']}/finish"), 409, "FAILED_PRECONDITION", "received"
    )
    assert body["details"]["missing"] == [[30, 60]]
    _put(c, s["id"], data, 30, 60)
    assert c.post(f"{V}/uploads/{s['id']}/finish").status_code == 201


def test_a_hash_mismatch_stores_nothing_and_discards_the_session(
    up: Any, c: Any, assert_problem: Any
) -> None:
    data = os.urandom(100)
    s = _start(c, data, sha256="0" * 64)
    _put(c, s["id"], data, 0, 100)
    assert_problem(c.post(f"{V}/uploads/{s['id']}/finish"), 422, "INTEGRITY_ERROR", "sha256")
    assert c.get(f"{V}/files").json()["files"] == []
    assert up.api.registry.blob_files() == [] and up.staging_files() == []
    assert_problem(c.get(f"{V}/uploads/{s['id']}"), 404, "NOT_FOUND")


def test_start_refuses_bad_fields(c: Any, assert_problem: Any) -> None:
    bad = [
        ({"path": "../x", "size": 1}, "path"),
        ({"path": "x", "size": 1, "sha256": "nope"}, "sha256"),
        ({"path": "x", "size": -1}, "size"),
        ({"path": "x"}, "size"),
    ]
    for body, field in bad:
        assert_problem(c.post(V + "/uploads", json=body), 422, "INVALID_ARGUMENT", field)


def test_rights_are_those_of_a_single_upload(up: Any, c: Any, assert_problem: Any) -> None:
    s = _start(c, b"x" * 10)
    other = up.api.client_for("bob")
    # private model: invisible to others, and so are its sessions
    assert_problem(
        other.post(V + "/uploads", json={"path": "a", "size": 1}), 404, "MODEL_NOT_FOUND"
    )
    assert_problem(other.get(f"{V}/uploads/{s['id']}"), 404, "MODEL_NOT_FOUND")
    c.patch("/api/v1/models/default/m", json={"access": "public"})
    assert_problem(
        other.post(V + "/uploads", json={"path": "a", "size": 1}), 403, "PERMISSION_DENIED"
    )
    # another user's session is not found, even for an admin
    up.api.registry.user("root", is_admin=True)
    admin2 = up.api.client(up.api.registry.token("root"))
    assert_problem(admin2.get(f"{V}/uploads/{s['id']}"), 404, "NOT_FOUND")
    assert_problem(c.get(f"{V}/uploads/{'f' * 32}"), 404, "NOT_FOUND")
    # a READY version refuses new sessions and chunks
    _put(c, s["id"], b"x" * 10, 0, 10)
    assert c.post(f"{V}/uploads/{s['id']}/finish").status_code == 201
    assert c.post(f"{V}/finish").status_code == 200
    assert_problem(
        c.post(V + "/uploads", json={"path": "b", "size": 1}), 409, "FAILED_PRECONDITION"
    )


def test_abort_removes_the_staged_bytes(up: Any, c: Any, assert_problem: Any) -> None:
    data = os.urandom(1000)
    s = _start(c, data)
    _put(c, s["id"], data, 0, 500)
    assert len(up.staging_files()) == 1
    assert c.delete(f"{V}/uploads/{s['id']}").status_code == 204
    assert up.staging_files() == []
    assert_problem(_put(c, s["id"], data, 500, 1000), 404, "NOT_FOUND")
    assert_problem(c.delete(f"{V}/uploads/{s['id']}"), 404, "NOT_FOUND")


def test_expired_sessions_are_gone_and_cleaned_when_a_session_starts(
    up: Any, c: Any, assert_problem: Any
) -> None:
    data = os.urandom(100)
    old = _start(c, data)
    _put(c, old["id"], data, 0, 50)
    up.clock.advance(3601)  # the fixture's ttl is one hour
    assert_problem(c.get(f"{V}/uploads/{old['id']}"), 404, "NOT_FOUND")
    assert_problem(_put(c, old["id"], data, 50, 100), 404, "NOT_FOUND")
    assert len(up.staging_files()) == 1  # not cleaned yet
    new = _start(c, data)
    assert [p.name for p in up.staging_files()] == [new["id"]]
    assert up.sessions.store.get(old["id"]) is None


def test_server_start_cleans_expired_sessions(up: Any, c: Any) -> None:
    _start(c, b"x" * 10)
    up.clock.advance(3601)
    assert up.sessions.clean_expired() == 1
    assert up.staging_files() == []


def test_model_level_files_work_the_same(c: Any) -> None:
    data = os.urandom(1000)
    r = c.post("/api/v1/models/default/m/uploads", json={"path": "card.md", "size": 1000})
    url = f"/api/v1/models/default/m/uploads/{r.json()['id']}"
    assert (
        c.put(url, content=data, headers={"Content-Range": "bytes 0-999/1000"}).status_code == 200
    )
    assert c.post(url + "/finish").json()["parent_kind"] == "MODEL"
    assert c.get("/api/v1/models/default/m/files/card.md").content == data


def test_empty_file(c: Any) -> None:
    s = _start(c, b"")
    done = c.post(f"{V}/uploads/{s['id']}/finish")
    assert done.status_code == 201 and done.json()["size"] == 0


def test_dedup_registers_known_content_without_bytes(up: Any, c: Any, assert_problem: Any) -> None:
    data = os.urandom(5000)
    digest = hashlib.sha256(data).hexdigest()
    dedup = V + "/files:dedup"
    missing = c.post(dedup, json={"path": "w.bin", "sha256": digest})
    assert_problem(missing, 404, "FILE_NOT_FOUND")
    c.put("/api/v1/models/default/m/files/orig.bin", content=data)
    assert_problem(
        c.post(dedup, json={"path": "w.bin", "sha256": digest, "size": 4999}),
        404,
        "FILE_NOT_FOUND",
    )
    assert_problem(
        c.post(dedup, json={"path": "w.bin", "sha256": "xyz"}), 422, "INVALID_ARGUMENT", "sha256"
    )
    r = c.post(dedup, json={"path": "w.bin", "sha256": f"sha256:{digest}", "size": 5000})
    assert r.status_code == 201, r.text
    assert r.json()["size"] == 5000 and r.json()["storage"] == "STORED"
    assert c.get(f"{V}/files/w.bin").content == data
    assert len(up.api.registry.blob_files()) == 1
    # the same rights as an upload
    other = up.api.client_for("eve")
    assert_problem(other.post(dedup, json={"path": "x", "sha256": digest}), 404, "MODEL_NOT_FOUND")


def test_dedup_only_finds_bytes_the_caller_may_read(up: Any, c: Any, assert_problem: Any) -> None:
    data = os.urandom(3000)
    digest = hashlib.sha256(data).hexdigest()
    c.put("/api/v1/models/default/m/files/secret.bin", content=data)  # admin's private model
    eve = up.api.client_for("eve")
    assert eve.post("/api/v1/models", json={"name": "mine"}).status_code == 201
    assert eve.post("/api/v1/models/default/mine/versions", json={}).status_code == 201
    dedup = "/api/v1/models/default/mine/versions/1/files:dedup"
    # Eve cannot learn that a private model holds these bytes...
    assert_problem(eve.post(dedup, json={"path": "a.bin", "sha256": digest}), 404, "FILE_NOT_FOUND")
    # ...until the model holding them is public.
    assert c.patch("/api/v1/models/default/m", json={"access": "public"}).status_code == 200
    r = eve.post(dedup, json={"path": "a.bin", "sha256": digest})
    assert r.status_code == 201, r.text
    assert eve.get("/api/v1/models/default/mine/versions/1/files/a.bin").content == data


def test_sessions_disabled_answer_409(api: Any, assert_problem: Any) -> None:
    _setup(api.admin)
    r = api.admin.post(V + "/uploads", json={"path": "a", "size": 1})
    assert_problem(r, 409, "FAILED_PRECONDITION")


def test_listing_shows_the_callers_open_sessions_of_a_path(
    up: Any, c: Any, assert_problem: Any
) -> None:
    data = b"x" * 100
    first = _start(c, data)
    _put(c, first["id"], data, 0, 40)
    other_path = c.post(V + "/uploads", json={"path": "other.bin", "size": 5}).json()
    second = _start(c, data, sha256=hashlib.sha256(data).hexdigest())
    listed = c.get(V + "/uploads", params={"path": "weights.bin"})
    assert listed.status_code == 200, listed.text
    assert [(u["id"], u["received"]) for u in listed.json()["uploads"]] == [
        (first["id"], [[0, 40]]),
        (second["id"], []),
    ]
    everything = c.get(V + "/uploads").json()["uploads"]
    assert {u["id"] for u in everything} == {first["id"], second["id"], other_path["id"]}
    assert c.get(V + "/uploads", params={"path": "nothing.bin"}).json() == {"uploads": []}
    assert_problem(c.get(V + "/uploads", params={"path": "../x"}), 422, "INVALID_ARGUMENT", "path")
    # finished, aborted and expired sessions are not listed
    _put(c, first["id"], data, 40, 100)
    assert c.post(f"{V}/uploads/{first['id']}/finish").status_code == 201
    assert c.delete(f"{V}/uploads/{other_path['id']}").status_code == 204
    assert [u["id"] for u in c.get(V + "/uploads").json()["uploads"]] == [second["id"]]
    up.clock.advance(2 * 3600)
    assert c.get(V + "/uploads").json() == {"uploads": []}
    # model-level sessions are listed apart from the version's
    m = c.post("/api/v1/models/default/m/uploads", json={"path": "card.md", "size": 3}).json()
    assert [u["id"] for u in c.get("/api/v1/models/default/m/uploads").json()["uploads"]] == [
        m["id"]
    ]
    assert c.get(V + "/uploads").json() == {"uploads": []}


def test_listing_shows_no_one_elses_sessions(up: Any, c: Any, assert_problem: Any) -> None:
    _start(c, b"x" * 10)
    other = up.api.client_for("bob")
    assert_problem(other.get(V + "/uploads"), 404, "MODEL_NOT_FOUND")
    c.patch("/api/v1/models/default/m", json={"access": "public"})
    assert_problem(other.get(V + "/uploads"), 403, "PERMISSION_DENIED")
    up.api.registry.user("root", is_admin=True)
    admin2 = up.api.client(up.api.registry.token("root"))
    assert admin2.get(V + "/uploads").json() == {"uploads": []}
