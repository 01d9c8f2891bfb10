"""Versions, files, metrics and tags over /api/v1, happy paths and failures."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from api_helpers import create_model, create_version, model_url, sha256, upload, version_url

from modelyard.errors import ErrorCode

DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def pending(api: Any) -> str:
    """Model ``m`` with a PENDING version 1; returns the version's URL."""
    create_model(api.admin, "m")
    create_version(api.admin, "m", version="1.0.0", framework="sklearn")
    return version_url("m", "1.0.0")


def test_version_lifecycle(api: Any, pending: str) -> None:
    assert upload(api.admin, "m", "1.0.0", "model.onnx", DATA).status_code == 201
    assert upload(api.admin, "m", "1.0.0", "conf/config.json", b"{}").status_code == 201
    r = api.admin.post(pending + "/finish")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "READY" and len(done["content_digest"]) == 64
    assert api.admin.get(version_url("m", "1")).json()["id"] == done["id"]  # by number
    v2 = create_version(api.admin, "m")
    assert (v2["number"], v2["version"]) == (2, "2")
    r = api.admin.post(version_url("m", "2") + "/fail", json={"reason": "bad data"})
    assert r.json()["state"] == "FAILED" and r.json()["status_message"] == "bad data"
    listed = api.admin.get(model_url("m") + "/versions").json()["versions"]
    assert [(v["number"], v["state"]) for v in listed] == [(1, "READY"), (2, "FAILED")]
    r = api.admin.patch(version_url("m", "2"), json={"description": "d", "framework": "onnx"})
    assert (r.json()["description"], r.json()["framework"]) == ("d", "onnx")
    assert api.admin.delete(version_url("m", "2")).status_code == 204
    assert api.admin.get(version_url("m", "2")).status_code == 404


def test_version_errors(api: Any, assert_problem: Any, pending: str) -> None:
    assert_problem(api.admin.get(version_url("m", "9")), 404, ErrorCode.VERSION_NOT_FOUND)
    assert_problem(
        api.admin.post(version_url("m", "9") + "/finish"), 404, ErrorCode.VERSION_NOT_FOUND
    )
    r = api.admin.post(model_url("m") + "/versions", json={"version": "1.0.0"})
    assert_problem(r, 409, ErrorCode.ALREADY_EXISTS, field="version")
    r = api.admin.post(model_url("m") + "/versions", json={"version": "bad label!"})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="version")
    r = api.admin.post(model_url("m") + "/versions", json={"meta_info": {"num_params": -1}})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="meta_info.num_params")
    r = api.admin.post(model_url("m") + "/versions", json={"description": "x" * 10_001})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="description")
    r = api.admin.post(model_url("m") + "/versions", json={"unique_tags": ["1abc"]})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="unique_tags[0]")
    assert len(api.admin.get(model_url("m") + "/versions").json()["versions"]) == 1
    api.admin.post(pending + "/finish")
    assert_problem(api.admin.post(pending + "/finish"), 409, ErrorCode.FAILED_PRECONDITION)
    assert_problem(api.admin.post(pending + "/fail", json={}), 409, ErrorCode.FAILED_PRECONDITION)
    assert api.admin.get(pending).json()["state"] == "READY"


def test_upload_list_download(api: Any, pending: str) -> None:
    r = upload(api.admin, "m", "1.0.0", "weights/model.onnx", DATA, sha256=sha256(DATA))
    assert r.status_code == 201, r.text
    f = r.json()
    assert (f["size"], f["sha256"], f["storage"]) == (len(DATA), sha256(DATA), "STORED")
    assert (f["file_type"], f["checksum"]) == ("MODEL", "sha256:" + sha256(DATA))
    upload(api.admin, "m", "1.0.0", "README.md", b"# hi")
    files = api.admin.get(pending + "/files").json()["files"]
    assert [x["path"] for x in files] == ["README.md", "weights/model.onnx"]
    assert files[0]["file_type"] == "TEXT" and files[0]["mime_type"] == "text/markdown"
    r = api.admin.get(pending + "/files/weights/model.onnx")
    assert r.status_code == 200 and r.content == DATA
    assert r.headers["accept-ranges"] == "bytes"
    # replacing a file while PENDING keeps one entry, with the new bytes
    upload(api.admin, "m", "1.0.0", "README.md", b"# new")
    assert api.admin.get(pending + "/files/README.md").content == b"# new"
    assert len(api.admin.get(pending + "/files").json()["files"]) == 2


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=100-199", 100, 200),
        ("bytes=-16", len(DATA) - 16, len(DATA)),
        ("bytes=10000-", 10000, len(DATA)),
        ("bytes=10000-999999", 10000, len(DATA)),
    ],
)
def test_range_downloads(api: Any, pending: str, range_header: str, start: int, end: int) -> None:
    upload(api.admin, "m", "1.0.0", "data.bin", DATA)
    r = api.admin.get(pending + "/files/data.bin", headers={"Range": range_header})
    assert r.status_code == 206, r.text
    assert r.content == DATA[start:end]
    assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert int(r.headers["content-length"]) == end - start


def test_unsatisfiable_range(api: Any, assert_problem: Any, pending: str) -> None:
    upload(api.admin, "m", "1.0.0", "data.bin", DATA)
    for header in (f"bytes={len(DATA)}-", "bytes=20000-20010"):
        r = api.admin.get(pending + "/files/data.bin", headers={"Range": header})
        assert_problem(r, 416, ErrorCode.INVALID_ARGUMENT, field="Range")
        assert r.headers["content-range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize(
    "raw_path",
    [
        "%2e%2e/x",
        "a/%2e%2e/%2e%2e/x",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "a//b",
        "a%5Cb",
        "..%5Cx",
        "C:%5Cwindows",
        "%2e/a",
        "a/%2e",
        "a%00b",
    ],
)
def test_path_traversal_is_refused(
    api: Any, assert_problem: Any, pending: str, raw_path: str
) -> None:
    r = api.admin.put(f"{pending}/files/{raw_path}", content=b"evil")
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="path")
    assert api.admin.get(pending + "/files").json()["files"] == []
    assert api.registry.blob_files() == []
    assert api.registry.tmp_files() == []
    # the same paths on the model itself, and for tracked files
    r = api.admin.put(f"{model_url('m')}/files/{raw_path}", content=b"evil")
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="path")
    r = api.admin.get(f"{pending}/files/{raw_path}")
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="path")
    r = api.admin.get(f"{model_url('m')}/files/{raw_path}")
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="path")


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "a\\b", "a//b"])
def test_tracked_path_traversal_is_refused(
    api: Any, assert_problem: Any, pending: str, path: str
) -> None:
    r = api.admin.post(pending + "/files", json={"files": [{"path": path, "uri": "s3://b/k"}]})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="files[0].path")
    assert api.admin.get(pending + "/files").json()["files"] == []


def test_starlette_receives_the_raw_dots(api: Any, pending: str) -> None:
    """Guard for the traversal tests: httpx would normalise a literal '..', so they send
    '%2e%2e'; check the server really decodes that to '..' (and refuses it)."""
    r = api.admin.put(f"{pending}/files/a/%2e%2e/b", content=b"x")
    assert r.status_code == 422
    assert "'a/../b'" in r.json()["detail"]


def test_wrong_sha256_stores_nothing(api: Any, assert_problem: Any, pending: str) -> None:
    r = upload(api.admin, "m", "1.0.0", "model.bin", DATA, sha256="0" * 64)
    body = assert_problem(r, 422, ErrorCode.INTEGRITY_ERROR, field="sha256")
    assert sha256(DATA) in body["detail"]
    assert api.admin.get(pending + "/files").json()["files"] == []
    assert_problem(api.admin.get(pending + "/files/model.bin"), 404, ErrorCode.FILE_NOT_FOUND)
    assert api.registry.blob_files() == []
    assert api.registry.tmp_files() == []
    r = upload(api.admin, "m", "1.0.0", "model.bin", DATA, sha256="not-a-digest")
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="sha256")
    assert api.registry.tmp_files() == []


def test_files_of_a_ready_version_are_immutable(
    api: Any, assert_problem: Any, pending: str
) -> None:
    upload(api.admin, "m", "1.0.0", "model.bin", DATA)
    api.admin.post(pending + "/finish")
    before = api.admin.get(pending + "/files").json()
    blobs_before = api.registry.blob_files()
    for r in (
        upload(api.admin, "m", "1.0.0", "model.bin", b"changed"),
        upload(api.admin, "m", "1.0.0", "new.bin", b"new"),
        api.admin.post(pending + "/files", json={"files": [{"path": "t", "uri": "s3://b/k"}]}),
    ):
        assert_problem(r, 409, ErrorCode.FAILED_PRECONDITION)
    assert api.admin.get(pending + "/files").json() == before
    assert api.admin.get(pending + "/files/model.bin").content == DATA
    assert api.registry.blob_files() == blobs_before
    assert api.registry.tmp_files() == []


def test_unknown_file(api: Any, assert_problem: Any, pending: str) -> None:
    assert_problem(api.admin.get(pending + "/files/none.bin"), 404, ErrorCode.FILE_NOT_FOUND)
    assert_problem(api.admin.get(model_url("m") + "/files/none.bin"), 404, ErrorCode.FILE_NOT_FOUND)


def test_tracked_files(api: Any, assert_problem: Any, pending: str) -> None:
    r = api.admin.post(
        pending + "/files",
        json={
            "files": [
                {"path": "weights.bin", "uri": "https://example.com/w.bin", "size": 5},
                {"path": "data.csv", "uri": "s3://bucket/data.csv"},
            ]
        },
    )
    assert r.status_code == 201, r.text
    files = api.admin.get(pending + "/files").json()["files"]
    assert [(f["path"], f["storage"], f["uri"]) for f in files] == [
        ("data.csv", "TRACKED", "s3://bucket/data.csv"),
        ("weights.bin", "TRACKED", "https://example.com/w.bin"),
    ]
    r = api.admin.get(pending + "/files/weights.bin", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "https://example.com/w.bin"
    assert_problem(api.admin.get(pending + "/files/data.csv"), 409, ErrorCode.FAILED_PRECONDITION)
    r = api.admin.post(pending + "/files", json={"files": [{"path": "x", "uri": "no-scheme"}]})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="files[0].uri")
    assert api.admin.post(pending + "/finish").json()["state"] == "READY"


def test_model_level_files(api: Any) -> None:
    create_model(api.admin, "m")
    r = upload(api.admin, "m", None, "card/README.md", b"# card")
    assert r.status_code == 201 and r.json()["parent_kind"] == "MODEL"
    assert [f["path"] for f in api.admin.get(model_url("m") + "/files").json()["files"]] == [
        "card/README.md"
    ]
    assert api.admin.get(model_url("m") + "/files/card/README.md").content == b"# card"
    r = api.admin.post(
        model_url("m") + "/files", json={"files": [{"path": "ext", "uri": "gs://b/o"}]}
    )
    assert r.status_code == 201


def test_identical_uploads_share_one_blob(api: Any, pending: str) -> None:
    upload(api.admin, "m", "1.0.0", "a.bin", DATA)
    upload(api.admin, "m", "1.0.0", "b.bin", DATA)
    assert len(api.registry.blob_files()) == 1
    assert api.admin.get(pending + "/files/b.bin").content == DATA


def test_metrics_read_back_ordered(api: Any, assert_problem: Any, pending: str) -> None:
    metrics = [
        {"key": "loss", "value": 0.3, "step": 3},
        {"key": "loss", "value": 0.9, "step": 1},
        {"key": "loss", "value": 0.5, "step": 2},
        {"key": "loss", "value": 0.1, "wallclock": 20.0},
        {"key": "loss", "value": 0.2, "wallclock": 10.0},
        {"key": "notes", "value": "ok"},
        {"key": "raw", "value_bytes": base64.b64encode(b"\x00\x01").decode()},
    ]
    r = api.admin.post(pending + "/metrics", json={"metrics": metrics})
    assert r.status_code == 201, r.text
    got = api.admin.get(pending + "/metrics", params={"key": "loss"}).json()["metrics"]
    assert [(m["step"], m["value"]) for m in got] == [
        (1, 0.9),
        (2, 0.5),
        (3, 0.3),
        (None, 0.2),
        (None, 0.1),
    ]
    every = api.admin.get(pending + "/metrics").json()["metrics"]
    assert {m["key"] for m in every} == {"loss", "notes", "raw"}
    raw = next(m for m in every if m["key"] == "raw")
    assert base64.b64decode(raw["value_bytes"]) == b"\x00\x01"
    # model-level metrics are their own list
    api.admin.post(model_url("m") + "/metrics", json={"metrics": [{"key": "x", "value": 1}]})
    assert [m["key"] for m in api.admin.get(model_url("m") + "/metrics").json()["metrics"]] == ["x"]
    for bad, field in [
        ({"metrics": [{"key": "k"}]}, "metrics[0].value"),
        ({"metrics": [{"key": "bad key!", "value": 1}]}, "metrics[0].key"),
        ({"metrics": [{"key": "k", "value": 1, "step": -1}]}, "metrics[0].step"),
        ({"metrics": [{"key": "k", "value_bytes": "***"}]}, "metrics[0].value_bytes"),
        ({"metrics": []}, "metrics"),
    ]:
        assert_problem(
            api.admin.post(pending + "/metrics", json=bad),
            422,
            ErrorCode.INVALID_ARGUMENT,
            field=field,
        )
    assert len(api.admin.get(pending + "/metrics").json()["metrics"]) == 7


def test_version_metadata_merge(api: Any, assert_problem: Any, pending: str) -> None:
    api.admin.patch(pending + "/metadata", json={"a": 1, "b": 2})
    r = api.admin.patch(pending + "/metadata", json={"a": None, "c": "x"})
    assert r.json()["metadata"] == {"b": 2, "c": "x"}
    assert api.admin.get(pending + "/metadata").json()["metadata"] == {"b": 2, "c": "x"}
    r = api.admin.patch(pending + "/metadata", json={"bad key!": 1})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT)
    assert api.admin.get(pending).json()["metadata"] == {"b": 2, "c": "x"}


def test_tags_move_and_history(api: Any, assert_problem: Any, pending: str) -> None:
    create_version(api.admin, "m", version="2.0.0")
    r = api.admin.put(model_url("m") + "/tags/production", json={"version": "1.0.0"})
    assert r.status_code == 200 and r.json()["tags"] == ["production"]
    bob = api.client_for("bob")
    api.admin.patch(model_url("m"), json={"access": "public"})
    r = api.admin.put(model_url("m") + "/tags/production", json={"version": "2"})
    assert r.json()["version"] == "2.0.0"
    assert api.admin.get(model_url("m") + "/tags").json()["tags"] == {"production": 2}
    assert bob.get(model_url("m") + "/tags/production").json()["version"] == "2.0.0"
    assert api.admin.get(version_url("m", "1.0.0")).json()["tags"] == []
    assert api.admin.delete(model_url("m") + "/tags/production").status_code == 204
    assert_problem(api.admin.get(model_url("m") + "/tags/production"), 404, ErrorCode.TAG_NOT_FOUND)
    assert_problem(
        api.admin.delete(model_url("m") + "/tags/production"), 404, ErrorCode.TAG_NOT_FOUND
    )
    history = api.admin.get(model_url("m") + "/tags/production/history").json()["events"]
    assert [
        (e["action"], e["version_number"], e["previous_version_number"], e["moved_by"])
        for e in history
    ] == [("set", 1, None, "admin"), ("set", 2, 1, "admin"), ("removed", None, 2, "admin")]
    r = api.admin.put(model_url("m") + "/tags/production", json={"version": "9"})
    assert_problem(r, 404, ErrorCode.VERSION_NOT_FOUND)
    r = api.admin.put(model_url("m") + "/tags/1bad", json={"version": "1"})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="tag")
    r = api.admin.put(model_url("m") + "/tags/prod", json={})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="version")


def test_versions_paginate(api: Any) -> None:
    create_model(api.admin, "m")
    for _ in range(5):
        create_version(api.admin, "m")
    seen, token = [], None
    while True:
        params: dict[str, Any] = {"page_size": 2}
        if token:
            params["page_token"] = token
        page = api.admin.get(model_url("m") + "/versions", params=params).json()
        seen += [v["number"] for v in page["versions"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == [1, 2, 3, 4, 5]


def test_private_version_parts_invisible(api: Any, assert_problem: Any, pending: str) -> None:
    upload(api.admin, "m", "1.0.0", "a.bin", b"a")
    bob = api.client_for("bob")
    for url in (pending + "/files/a.bin", pending + "/metadata"):
        assert_problem(bob.get(url), 404, ErrorCode.MODEL_NOT_FOUND)
    assert_problem(upload(bob, "m", "1.0.0", "b.bin", b"b"), 404, ErrorCode.MODEL_NOT_FOUND)
    assert [f["path"] for f in api.admin.get(pending + "/files").json()["files"]] == ["a.bin"]


GARBAGE_BODIES: list[Any] = [
    b"",
    b"null",
    b"[]",
    b"42",
    b'"str"',
    b"{",
    b"\xff\xfe\x00",
    b'{"name": null}',
    b'{"name": 5}',
    b'{"name": ["a"]}',
    b'{"name": "x", "metadata": []}',
    b'{"name": "x", "metadata": {"k": NaN}}',
    b'{"name": "x", "metadata": {"": 1}}',
    b'{"name": "\\u0000"}',
    b'{"version": {"a": 1}}',
    b'{"metrics": [{"key": "k", "value": 1e400}]}',
    b'{"metrics": [{"key": "k", "value": 1, "step": 99999999999999999999999}]}',
    b'{"metrics": "x"}',
    b'{"files": [{"path": "", "uri": ""}]}',
    b'{"files": [{"path": "a", "uri": "s3://b", "size": -1}]}',
    b'{"files": [{"path": "a", "uri": "s3://b", "sha256": "zz"}]}',
    b'{"reason": 5}',
    b'{"expires_at": "yesterday"}',
    b'{"expires_at": "2000-01-01T00:00:00"}',
    b'{"user": "ghost"}',
]


def test_garbage_never_answers_500(api_both: Any, assert_problem: Any) -> None:
    """Malformed bodies, odd URLs and query strings, on SQLite and on PostgreSQL (which refuses
    NUL characters and lone surrogates in text: these must be 4xx before they reach it)."""
    api = api_both
    create_model(api.admin, "m")
    create_version(api.admin, "m", version="1.0.0", framework="sklearn")
    pending = version_url("m", "1.0.0")
    upload(api.admin, "m", "1.0.0", "a.bin", DATA)
    odd_urls = [
        model_url("m") + "/versions/%00",
        model_url("m") + "/versions/" + "9" * 40,
        model_url("m") + "/versions/-1",
        model_url("%00", "%ff"),
        model_url("x" * 5000),
        "/api/v1/models?page_size=abc",
        "/api/v1/models?page_size=100000",
        "/api/v1/models?page_token=%00%00",
        "/api/v1/models?name_prefix=" + "a" * 500,
        "/api/v1/models?page_token=" + base64.urlsafe_b64encode(b'[{"a": 1}, [2]]').decode(),
        "/api/v1/models?page_token=" + base64.urlsafe_b64encode(b"[1, null]").decode(),
        model_url("m") + "/versions?page_token=" + base64.urlsafe_b64encode(b"[1e99]").decode(),
        model_url("m") + "/versions/%C2%B2",
        model_url("m") + "/versions?page_token=WyJ4Il0",
        model_url("m") + "/versions?page_token=" + base64.urlsafe_b64encode(b"[1,2]").decode(),
        model_url("m") + "/tags/" + "t" * 300,
        pending + "/files/" + "a/" * 600 + "x",
        "/api/v1/nowhere",
    ]
    for url in odd_urls:
        r = api.admin.get(url)
        assert r.status_code < 500, (url, r.text)
        if r.status_code >= 400:
            assert_problem(r, r.status_code, r.json()["code"])
    # NUL in each path segment: a name, version or tag that cannot exist is not found
    for url, code in [
        (model_url("m", "%00"), ErrorCode.MODEL_NOT_FOUND),
        (model_url("m", "a%00b"), ErrorCode.MODEL_NOT_FOUND),
        (model_url("%00"), ErrorCode.MODEL_NOT_FOUND),
        (model_url("m%00"), ErrorCode.MODEL_NOT_FOUND),
        (model_url("m%00") + "/versions", ErrorCode.MODEL_NOT_FOUND),
        (model_url("m%00") + "/files/a.bin", ErrorCode.MODEL_NOT_FOUND),
        (model_url("m%00") + "/metrics", ErrorCode.MODEL_NOT_FOUND),
        (version_url("m", "1%00"), ErrorCode.VERSION_NOT_FOUND),
        (version_url("m", "%00") + "/files", ErrorCode.VERSION_NOT_FOUND),
        (version_url("m", "%ED%A0%80"), ErrorCode.VERSION_NOT_FOUND),
        (model_url("m") + "/tags/%00", ErrorCode.TAG_NOT_FOUND),
        (model_url("m") + "/tags/prod%00", ErrorCode.TAG_NOT_FOUND),
    ]:
        assert_problem(api.admin.get(url), 404, code)
    for tag in ("%00", "prod%00"):  # like any tag never set: no events
        r = api.admin.get(model_url("m") + f"/tags/{tag}/history")
        assert (r.status_code, r.json()) == (200, {"events": []}), r.text
    for method, url, body, field in [
        ("PUT", model_url("m") + "/tags/%00", {"version": "1"}, "tag"),
        ("PUT", model_url("m") + "/tags/prod%00", {"version": "1"}, "tag"),
        ("POST", "/api/v1/models", {"name": "m", "namespace": "a\x00"}, "namespace"),
    ]:
        r = api.admin.request(method, url, json=body)
        assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field=field)
    r = api.admin.put(model_url("m") + "/tags/prod", json={"version": "1%00"})
    assert_problem(r, 404, ErrorCode.VERSION_NOT_FOUND)
    r = api.admin.put(model_url("m") + "/tags/prod", json={"version": "1\x00"})
    assert_problem(r, 404, ErrorCode.VERSION_NOT_FOUND)
    assert_problem(
        api.admin.patch(model_url("m%00"), json={"description": "d"}),
        404,
        ErrorCode.MODEL_NOT_FOUND,
    )
    assert_problem(
        api.admin.post(model_url("m%00") + "/versions", json={}), 404, ErrorCode.MODEL_NOT_FOUND
    )
    assert_problem(api.admin.delete(version_url("m", "%00")), 404, ErrorCode.VERSION_NOT_FOUND)
    for url in (pending + "/files/%00", pending + "/files/a%00/b", model_url("m") + "/files/%00"):
        assert_problem(api.admin.get(url), 422, ErrorCode.INVALID_ARGUMENT, field="path")
        r = api.admin.put(url, content=b"x")
        assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="path")
    # query strings no name, owner or key can match
    for query, field in [
        ("name_prefix=a%00", "name_prefix"),
        ("name_contains=%00", "name_contains"),
        ("owner=a%00", "owner"),
        ("task=%00", "task"),
        ("tag=p%00", "tag"),
        ("page_token=a%00", "page_token"),
    ]:
        r = api.admin.get("/api/v1/models?" + query)
        assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field=field)
    for query in (
        "name_prefix=%F4%8F%BF%BF",  # U+10FFFF: the last code point, no successor
        "name_prefix=%ED%A0%80",  # UTF-8 of a surrogate: undecodable, read as U+FFFD
        "name_contains=%F4%8F%BF%BF",
        "owner=%F4%8F%BF%BF",
        "namespace=%00",
        "namespace=%F4%8F%BF%BF",
    ):
        # valid (or harmless) text no name can hold: nothing matches
        r = api.admin.get("/api/v1/models?" + query)
        assert r.status_code == 200, (query, r.text)
        assert r.json() == {"models": [], "next_page_token": None}, query
    for where in (pending, model_url("m")):
        r = api.admin.get(where + "/metrics?key=%00")
        assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="key")
    r = api.admin.get(
        model_url("m")
        + "/versions?page_token="
        + base64.urlsafe_b64encode(b"[-99999999999999999999]").decode()
    )
    # no page ends before version 0: the listing starts at the beginning
    assert r.status_code == 200, r.text
    assert [v["number"] for v in r.json()["versions"]] == [1]
    # bodies with text no database can store, or numbers no column can hold
    for method, url, raw, field in [
        ("PATCH", model_url("m"), '{"description": "a\\u0000b"}', "description"),
        ("PATCH", model_url("m"), '{"task": "\\u0000"}', "task"),
        ("PATCH", model_url("m"), '{"model_card": "x\\u0000"}', "model_card"),
        ("PATCH", model_url("m"), '{"description": "\\ud800"}', "description"),
        ("PATCH", model_url("m"), '{"description": "a\\udfffb"}', "description"),
        ("PATCH", pending, '{"description": "\\u0000"}', "description"),
        ("PATCH", pending, '{"framework": "\\ud800"}', "framework"),
        ("POST", "/api/v1/models", '{"name": "n", "description": "\\u0000"}', "description"),
        ("POST", model_url("m") + "/versions", '{"description": "\\ud800"}', "description"),
        ("POST", model_url("m") + "/versions", '{"name": "\\u0000"}', "name"),
        ("PATCH", model_url("m") + "/metadata", '{"k": "a\\u0000"}', None),
        ("PATCH", model_url("m") + "/metadata", '{"k": {"deep": ["\\ud800"]}}', None),
        ("PATCH", pending + "/metadata", '{"k": "\\u0000"}', None),
        ("PATCH", model_url("m"), '{"metadata": {"k": "\\u0000"}}', None),
        ("POST", model_url("m") + "/versions", '{"metadata": {"k": "\\ud800"}}', None),
        (
            "POST",
            model_url("m") + "/versions",
            '{"input_schema": {"t": "\\u0000"}}',
            "input_schema.t",
        ),
        (
            "POST",
            pending + "/metrics",
            '{"metrics": [{"key": "k", "value": "a\\u0000"}]}',
            "metrics[0].value",
        ),
        (
            "POST",
            pending + "/metrics",
            '{"metrics": [{"key": "k", "value": "\\ud800"}]}',
            "metrics[0].value",
        ),
        (
            "POST",
            model_url("m") + "/metrics",
            '{"metrics": [{"key": "k", "value": "\\u0000"}]}',
            "metrics[0].value",
        ),
        (
            "POST",
            pending + "/metrics",
            '{"metrics": [{"key": "k\\u0000", "value": 1}]}',
            "metrics[0].key",
        ),
        (
            "POST",
            pending + "/files",
            f'{{"files": [{{"path": "t.bin", "uri": "s3://b/k", "size": {2**70}}}]}}',
            "files[0].size",
        ),
        (
            "POST",
            pending + "/files",
            '{"files": [{"path": "t.bin", "uri": "s3://b/k", "mime_type": "' + "x" * 1000 + '"}]}',
            "files[0].mime_type",
        ),
        (
            "POST",
            pending + "/files",
            '{"files": [{"path": "t.bin", "uri": "s3://b/\\u0000"}]}',
            "files[0].uri",
        ),
        (
            "POST",
            pending + "/files",
            '{"files": [{"path": "t.bin", "uri": "s3://b/k", "mime_type": "a\\u0000"}]}',
            "files[0].mime_type",
        ),
        ("POST", pending + "/fail", '{"reason": "\\u0000"}', "reason"),
        ("POST", "/api/v1/tokens", '{"expires_at": "9999-12-31T23:59:59-12:00"}', "expires_at"),
        ("POST", "/api/v1/tokens", '{"expires_at": "9999-12-31T23:59:59+14:00"}', "expires_at"),
        ("POST", "/api/v1/tokens", '{"name": "\\u0000"}', "name"),
        ("POST", "/api/v1/users", '{"name": "\\u0000"}', "name"),
    ]:
        r = api.admin.request(
            method, url, content=raw.encode(), headers={"content-type": "application/json"}
        )
        body = assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field=field)
        if field is None:
            assert any("metadata" in e["field"] for e in body["errors"]), (raw, body)
    # nothing of the above was stored
    model = api.admin.get(model_url("m")).json()
    assert (model["description"], model["task"], model["metadata"]) == (None, None, {})
    version = api.admin.get(pending).json()
    assert (version["state"], version["description"], version["metadata"]) == (
        "PENDING",
        None,
        {},
    )
    assert [f["path"] for f in api.admin.get(pending + "/files").json()["files"]] == ["a.bin"]
    assert api.admin.get(pending + "/metrics").json()["metrics"] == []
    assert [
        v["number"] for v in api.admin.get(model_url("m") + "/versions").json()["versions"]
    ] == [1]
    for header, status, part in [
        ("bytes=abc", 200, None),  # malformed: ignored
        ("bytes=0-0,5-6", 200, None),  # several ranges: ignored
        ("items=0-1", 200, None),  # unknown unit: ignored
        ("bytes=5-1", 416, None),  # invalid: refused
        ("bytes=-0", 416, None),  # empty suffix: unsatisfiable
        ("bytes=" + "9" * 30 + "-", 416, None),
        ("bytes=0-" + "9" * 30, 206, (0, len(DATA))),
        ("bytes=-" + "9" * 30, 206, (0, len(DATA))),
        (" bytes=3-5 ", 206, (3, 6)),
    ]:
        r = api.admin.get(pending + "/files/a.bin", headers={"Range": header})
        assert r.status_code == status, (header, r.status_code, r.text)
        if status == 200:
            assert r.content == DATA and "content-range" not in r.headers, header
        elif status == 206:
            assert part is not None
            start, end = part
            assert r.content == DATA[start:end], header
            assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
        else:
            assert_problem(r, 416, ErrorCode.INVALID_ARGUMENT, field="Range")
            assert r.headers["content-range"] == f"bytes */{len(DATA)}"
    # malformed bodies, last: some (``null`` to /fail) change the version
    targets = [
        ("POST", "/api/v1/models"),
        ("PATCH", model_url("m")),
        ("PATCH", model_url("m") + "/metadata"),
        ("POST", model_url("m") + "/versions"),
        ("PATCH", pending),
        ("PATCH", pending + "/metadata"),
        ("POST", pending + "/metrics"),
        ("POST", pending + "/files"),
        ("POST", pending + "/fail"),
        ("PUT", model_url("m") + "/tags/prod"),
        ("POST", "/api/v1/users"),
        ("POST", "/api/v1/tokens"),
    ]
    for method, url in targets:
        for body in GARBAGE_BODIES:
            r = api.admin.request(
                method, url, content=body, headers={"content-type": "application/json"}
            )
            assert r.status_code < 500, (method, url, body, r.text)
            if r.status_code >= 400:
                assert_problem(r, r.status_code, r.json()["code"])
    for headers in [{"content-length": "abc"}, {"content-type": "text/plain"}]:
        r = api.admin.put(pending + "/files/z.bin", content=b"zz", headers=headers)
        assert r.status_code < 500, (headers, r.text)
    r = api.admin.put(pending + "/files/z.bin", content=b"zz", params={"file_type": "NOPE"})
    assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="file_type")
