"""A chunk being received holds its bytes: an overlapping chunk and a finish are refused with
409 until it ends, so nothing can write into the staged file once it is hashed and becomes
the blob. The SDK retries a chunk refused that way (a dropped request still winding up)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx

from modelyard import Client
from modelyard.client import _sessions

V = "/api/v1/models/default/m/versions/1"
DATA = os.urandom(300_000)
DIGEST = hashlib.sha256(DATA).hexdigest()


def _put(client: Any, upload_id: str, start: int, end: int) -> Any:
    return client.put(
        f"{V}/uploads/{upload_id}",
        content=DATA[start:end],
        headers={"Content-Range": f"bytes {start}-{end - 1}/{len(DATA)}"},
    )


def _session(up: Any) -> str:
    c = up.api.admin
    assert c.post("/api/v1/models", json={"name": "m"}).status_code == 201
    assert c.post("/api/v1/models/default/m/versions", json={}).status_code == 201
    r = c.post(V + "/uploads", json={"path": "w.bin", "size": len(DATA), "sha256": DIGEST})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _begin(up: Any, upload_id: str, start: int, end: int) -> Any:
    admin = up.api.registry.admin
    return up.sessions.begin_chunk(
        admin, "default", "m", "1", upload_id, start=start, end=end, total=len(DATA)
    )


def test_overlapping_chunks_are_refused_while_one_arrives(up: Any, assert_problem: Any) -> None:
    sid = _session(up)
    arriving = _begin(up, sid, 100_000, 200_000)
    arriving.write(DATA[100_000:150_000])
    problem = assert_problem(_put(up.api.admin, sid, 150_000, 250_000), 409, "CONFLICT")
    assert "bytes 100000-199999 are being received" in problem["detail"]
    assert _put(up.api.admin, sid, 0, 100_000).status_code == 200  # other bytes: fine
    arriving.abort()  # the connection dropped: nothing recorded, the bytes are free again
    assert _put(up.api.admin, sid, 100_000, 300_000).status_code == 200
    assert up.api.admin.post(f"{V}/uploads/{sid}/finish").status_code == 201
    assert up.api.admin.get(f"{V}/files/w.bin").content == DATA


def test_finish_waits_for_a_chunk_still_arriving(up: Any, assert_problem: Any) -> None:
    sid = _session(up)
    assert _put(up.api.admin, sid, 0, len(DATA)).status_code == 200  # every byte recorded
    late = _begin(up, sid, 0, 100_000)  # a resend of recorded bytes, still arriving
    problem = assert_problem(up.api.admin.post(f"{V}/uploads/{sid}/finish"), 409, "CONFLICT")
    assert "still being received" in problem["detail"]
    assert up.api.registry.blob_files() == []
    late.write(DATA[:100_000])
    late.finish()
    assert up.api.admin.post(f"{V}/uploads/{sid}/finish").status_code == 201
    assert [p.name for p in up.api.registry.blob_files()] == [DIGEST]
    assert up.api.admin.get(f"{V}/files/w.bin").content == DATA


def test_the_sdk_retries_a_chunk_refused_as_a_conflict(
    live: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    """The chunk at 4 MiB is refused once with 409 (as if a dropped request for it were still
    winding up on the server); the SDK waits, asks for the received ranges and sends it again."""
    monkeypatch.setattr(_sessions, "SESSION_THRESHOLD", 8 * 1024 * 1024)
    monkeypatch.setattr(_sessions, "CHUNK_SIZE", 4 * 1024 * 1024)
    monkeypatch.setattr(_sessions, "BACKOFF", 0.01)
    local = tmp_path / "w.bin"
    local.write_bytes(os.urandom(10 * 1024 * 1024))
    refused: list[str] = []

    class OnceConflict(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            content_range = request.headers.get("content-range", "")
            if content_range.startswith("bytes 4194304-") and not refused:
                refused.append(content_range)
                body = {"code": "CONFLICT", "detail": "bytes are being received", "status": 409}
                return httpx.Response(409, json=body)
            return super().handle_request(request)

    with Client(live.url, live.registry.admin_token, transport=OnceConflict()) as client:
        version = client.new_model("m").new_model_version()
        [artifact] = version.upload_artifact(local)
    assert refused == [f"bytes 4194304-8388607/{10 * 1024 * 1024}"]
    assert artifact.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
