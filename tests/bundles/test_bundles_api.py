"""PUT/GET /api/v1/models/{ns}/{model}/versions/{version}/bundle, in-process, real zips."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from bundle_zips import MiB, bomb_zip, make_zip, patch_member, sha256, symlink_zip

from modelyard.api.app import create_app
from modelyard.domain.bundles import MANIFEST, BundleLimits
from modelyard.errors import ErrorCode

VERSION = "/api/v1/models/default/m/versions/1"
GOOD = [
    ("README.md", b"# a model\n"),
    ("weights/", b""),
    ("weights/layer1/w.bin", bytes(range(256)) * 1000),
    ("weights/config.json", b'{"layers": 2}'),
    ("tokenizer/vocab.txt", "ä\nb\nc\n".encode() * 500),
]


@pytest.fixture
def pending(api: Any) -> str:
    assert api.admin.post("/api/v1/models", json={"name": "m"}).status_code == 201
    assert api.admin.post("/api/v1/models/default/m/versions", json={}).status_code == 201
    return VERSION


def _state(api: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """What a refusal must leave unchanged: blobs, the temp directory and the file table."""
    files = api.admin.get(VERSION + "/files").json()["files"]
    return api.registry.blob_files(), api.registry.tmp_files(), files


def test_good_bundle_becomes_the_versions_files(api: Any, pending: str) -> None:
    r = api.admin.put(pending + "/bundle", content=make_zip(GOOD))
    assert r.status_code == 201, r.text
    expected = {name: data for name, data in GOOD if not name.endswith("/")}
    stored = {f["path"]: (f["size"], f["sha256"]) for f in r.json()["files"]}
    assert stored == {p: (len(d), sha256(d)) for p, d in expected.items()}
    listed = api.admin.get(pending + "/files").json()["files"]
    assert {f["path"]: f["sha256"] for f in listed} == {p: sha256(d) for p, d in expected.items()}
    got = api.admin.get(pending + "/files/weights/layer1/w.bin")
    assert got.content == expected["weights/layer1/w.bin"]
    assert api.registry.tmp_files() == []
    assert api.admin.post(pending + "/finish").json()["state"] == "READY"


def test_stored_members_and_replacing_an_existing_path(api: Any, pending: str) -> None:
    api.admin.put(pending + "/files/README.md", content=b"old")
    r = api.admin.put(
        pending + "/bundle", content=make_zip(GOOD[:1] + GOOD[2:3], zipfile.ZIP_STORED)
    )
    assert r.status_code == 201, r.text
    files = {f["path"]: f["size"] for f in api.admin.get(pending + "/files").json()["files"]}
    assert files == {"README.md": len(GOOD[0][1]), "weights/layer1/w.bin": 256_000}


def _hostile() -> Iterator[Any]:
    ok = ("ok.txt", b"fine")
    yield pytest.param(make_zip([ok, ("../evil", b"x")]), "members[1]", id="zip-slip")
    yield pytest.param(make_zip([ok, ("a/../../evil", b"x")]), "members[1]", id="zip-slip-nested")
    yield pytest.param(make_zip([ok, ("/etc/x", b"x")]), "members[1]", id="absolute")
    yield pytest.param(make_zip([("C:/win.ini", b"x")]), "members[0]", id="drive-letter")
    yield pytest.param(make_zip([ok, ("a\\..\\evil", b"x")]), "members[1]", id="backslash")
    yield pytest.param(make_zip([("../up/", b""), ok]), "members[0]", id="directory-slip")
    yield pytest.param(symlink_zip(ok, "link", "/etc/passwd"), "members[1]", id="symlink")
    yield pytest.param(make_zip([ok, ("ok.txt", b"again")]), "members[1]", id="duplicate")
    yield pytest.param(
        patch_member(make_zip([ok, ("secret", b"x")]), 1, flag_bits=1), "members[1]", id="encrypted"
    )
    # A header that lies: it declares 1,000 bytes (no ratio alarm) for 8 MiB of zeros.
    liar = make_zip([ok, ("small.bin", bytes(8 * MiB))])
    yield pytest.param(patch_member(liar, 1, size=1000), "members[1]", id="lying-header")


@pytest.mark.parametrize(("archive", "member"), list(_hostile()))
def test_hostile_members_are_refused_and_nothing_is_stored(
    api: Any, assert_problem: Any, pending: str, archive: bytes, member: str
) -> None:
    before = _state(api)
    body = assert_problem(
        api.admin.put(pending + "/bundle", content=archive),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field=member,
    )
    assert "nothing was stored" in body["detail"]
    assert _state(api) == before == ([], [], [])


def test_zip_bomb_is_refused_by_its_ratio(api: Any, assert_problem: Any, pending: str) -> None:
    archive = bomb_zip(("ok.txt", b"fine"), 200 * MiB)
    assert len(archive) < 1 * MiB  # 200 MiB inflated
    body = assert_problem(
        api.admin.put(pending + "/bundle", content=archive),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="members[1]",
    )
    assert "zeros.bin" in body["detail"] and "compression ratio" in body["detail"]
    assert _state(api) == ([], [], [])


def test_too_many_members(api: Any, assert_problem: Any, pending: str) -> None:
    archive = make_zip([(f"f{i}", b"") for i in range(10_001)], zipfile.ZIP_STORED)
    body = assert_problem(
        api.admin.put(pending + "/bundle", content=archive),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="members[10000]",
    )
    assert "f10000" in body["detail"] and "10000" in body["detail"]
    assert _state(api) == ([], [], [])


def test_not_a_zip(api: Any, assert_problem: Any, pending: str) -> None:
    for body in (b"", b"hello, not a zip", b"PK\x03\x04" + bytes(100)):
        r = api.admin.put(pending + "/bundle", content=body)
        assert_problem(r, 422, ErrorCode.INVALID_ARGUMENT, field="body")
    assert _state(api) == ([], [], [])


def test_total_size_and_body_limits(api: Any, assert_problem: Any) -> None:
    limits = BundleLimits(max_total_size=5000)
    small = dataclasses.replace(api, app=create_app(api.service, bundle_limits=limits))
    client = small.admin
    client.post("/api/v1/models", json={"name": "m"})
    client.post("/api/v1/models/default/m/versions", json={})
    big = make_zip([("a.bin", bytes(3000)), ("b.bin", bytes(3000))], zipfile.ZIP_STORED)
    body = assert_problem(
        client.put(VERSION + "/bundle", content=big),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="members[1]",
    )
    assert "b.bin" in body["detail"]
    too_long = bytes(limits.max_archive_size + 1)
    assert_problem(
        client.put(VERSION + "/bundle", content=too_long),
        422,
        ErrorCode.INVALID_ARGUMENT,
        field="body",
    )
    assert _state(api) == ([], [], [])
    small.close()


def test_same_permissions_as_file_uploads(api: Any, assert_problem: Any, pending: str) -> None:
    archive = make_zip(GOOD)
    bob = api.client_for("bob")
    assert_problem(bob.put(pending + "/bundle", content=archive), 404, ErrorCode.MODEL_NOT_FOUND)
    assert_problem(bob.get(pending + "/bundle"), 404, ErrorCode.MODEL_NOT_FOUND)
    assert_problem(api.anon.put(pending + "/bundle", content=archive), 401, "UNAUTHENTICATED")
    api.admin.patch("/api/v1/models/default/m", json={"access": "public"})
    assert_problem(bob.put(pending + "/bundle", content=archive), 403, ErrorCode.PERMISSION_DENIED)
    api.admin.put(pending + "/files/x.txt", content=b"x")
    api.admin.post(pending + "/finish")
    assert_problem(
        api.admin.put(pending + "/bundle", content=archive), 409, ErrorCode.FAILED_PRECONDITION
    )
    assert bob.get(pending + "/bundle").status_code == 200  # public: anyone may read
    assert [f["path"] for f in api.admin.get(pending + "/files").json()["files"]] == ["x.txt"]


def test_download_round_trip(api: Any, assert_problem: Any, pending: str) -> None:
    api.admin.put(pending + "/bundle", content=make_zip(GOOD))
    api.admin.post(
        pending + "/files",
        json={"files": [{"path": "data/train.csv", "uri": "s3://bucket/train.csv", "size": 9}]},
    )
    r = api.admin.get(pending + "/bundle")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    assert 'filename="m-1.zip"' in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.testzip() is None
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    manifest = json.loads(members.pop(MANIFEST))
    expected = {name: data for name, data in GOOD if not name.endswith("/")}
    assert {p: sha256(d) for p, d in members.items()} == {p: sha256(d) for p, d in expected.items()}
    listed = {f["path"]: f for f in manifest["files"]}
    assert (manifest["model"], manifest["version"]) == ("default/m", "1")
    assert listed["data/train.csv"]["in_bundle"] is False
    assert listed["data/train.csv"]["uri"] == "s3://bucket/train.csv"
    for path, data in expected.items():
        assert listed[path]["sha256"] == sha256(data) and listed[path]["size"] == len(data)
        assert listed[path]["in_bundle"] is True

    # The download uploads again as is: its manifest is not a file of the new version.
    api.admin.post("/api/v1/models/default/m/versions", json={})
    again = api.admin.put("/api/v1/models/default/m/versions/2/bundle", content=r.content)
    assert again.status_code == 201, again.text
    assert sorted(f["path"] for f in again.json()["files"]) == sorted(expected)


def test_download_streams_a_generator(api: Any, pending: str) -> None:
    api.admin.put(pending + "/bundle", content=make_zip(GOOD))
    bundle = api.app.state.bundles.download(api.registry.admin, "default", "m", "1")
    assert isinstance(bundle.chunks, Iterator) and not isinstance(bundle.chunks, list | bytes)
    first = next(bundle.chunks)  # the first member's header arrives before the rest is read
    assert first.startswith(b"PK\x03\x04") and len(first) < 1024
    rest = b"".join(bundle.chunks)
    with zipfile.ZipFile(io.BytesIO(first + rest)) as zf:
        assert zf.testzip() is None


def test_empty_version_downloads_just_the_manifest(api: Any, pending: str) -> None:
    r = api.admin.get(pending + "/bundle")
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.namelist() == [MANIFEST]
        assert json.loads(zf.read(MANIFEST))["files"] == []
