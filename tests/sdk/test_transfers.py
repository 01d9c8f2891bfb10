"""Uploads stream from disk with their SHA-256; downloads are verified before they appear."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sdk_wire import Handler, model_json

from modelyard import Client, IntegrityError
from modelyard.api.schemas import MetadataOut
from modelyard.client._files import CHUNK


def file_json(path: str, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    return {
        "id": "f1",
        "parent_kind": "MODEL",
        "parent_id": "id-m",
        "path": path,
        "size": len(data),
        "sha256": digest,
        "checksum": f"sha256:{digest}",
        "mime_type": "application/octet-stream",
        "file_type": "OTHER",
        "storage": "STORED",
        "uri": None,
        "created_at": "2025-01-01T00:00:00Z",
    }


def test_upload_streams_chunks_with_sha256_and_length(
    mock_client: Callable[[Handler], Client], tmp_path: Path
) -> None:
    data = bytes(range(256)) * (CHUNK // 256 * 2 + 7)
    root = tmp_path / "bundle"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "w.bin").write_bytes(data)
    received: dict[str, bytes] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            assert request.url.params["sha256"] == hashlib.sha256(data).hexdigest()
            assert request.headers["content-length"] == str(len(data))
            assert "transfer-encoding" not in request.headers
            body = request.read()
            received[request.url.path] = body
            return httpx.Response(201, json=file_json("sub/w.bin", body))
        if request.url.path.endswith("/files:dedup"):  # the server lacks the content
            return httpx.Response(404, json={"code": "FILE_NOT_FOUND", "detail": "no blob"})
        return httpx.Response(200, json=model_json("m"))

    progress: list[int] = []
    [artifact] = mock_client(handler).get_model("m").upload_artifact(root, progress.append)
    assert received == {"/api/v1/models/default/m/files/sub/w.bin": data}
    assert sum(progress) == len(data) and len(progress) == 3
    assert artifact.path == "sub/w.bin"
    assert artifact.parent == "id-m"
    assert artifact.checksum == f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_download_with_wrong_bytes_leaves_nothing(
    mock_client: Callable[[Handler], Client], tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/files/" in request.url.path:
            headers = {"X-Checksum-Sha256": hashlib.sha256(b"expected").hexdigest()}
            return httpx.Response(200, content=b"tampered", headers=headers)
        return httpx.Response(200, json=model_json("m"))

    with pytest.raises(IntegrityError, match="SHA-256"):
        mock_client(handler).get_model("m").download("a.bin", tmp_path / "a.bin")
    assert list(tmp_path.iterdir()) == []


def test_download_into_directory(mock_client: Callable[[Handler], Client], tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/files/" in request.url.path:
            headers = {"X-Checksum-Sha256": hashlib.sha256(b"payload").hexdigest()}
            return httpx.Response(200, content=b"payload", headers=headers)
        return httpx.Response(200, json=model_json("m"))

    written = mock_client(handler).get_model("m").download("d/a.bin", tmp_path)
    assert written == tmp_path / "d" / "a.bin"
    assert written.read_bytes() == b"payload"
    assert [p.name for p in written.parent.iterdir()] == ["a.bin"]


def test_calls_that_work_through_a_whole_file_have_no_read_limit() -> None:
    seen: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.path] = request.extensions["timeout"]["read"]
        return httpx.Response(200, json={"metadata": {}})

    client = Client("http://registry.test", token="t", transport=httpx.MockTransport(handler))
    client._t.call("GET", "/quick", MetadataOut)
    client._t.call("POST", "/uploads/1/finish", MetadataOut, long=True)
    assert seen["/quick"] == 30.0
    assert seen["/uploads/1/finish"] is None
