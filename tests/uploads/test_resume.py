"""The SDK against a real server on 127.0.0.1: a large upload whose connection is dropped at
about half-way resumes and finishes intact, stored once; the same file again sends no bytes."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard import Client
from modelyard.client import _sessions

MiB = 1024 * 1024


class DroppingTransport(httpx.HTTPTransport):
    """Records every request; drops the connection half-way through the body of the chunk PUT
    that starts at ``drop_at`` (once), as a failing network would."""

    def __init__(self, drop_at: int | None = None) -> None:
        super().__init__()
        self.drop_at = drop_at
        self.seen: list[tuple[str, str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content_range = request.headers.get("content-range", "")
        self.seen.append((request.method, request.url.path, content_range))
        if self.drop_at is not None and content_range.startswith(f"bytes {self.drop_at}-"):
            self.drop_at = None
            request.stream = _HalfThenDrop(request.stream, int(request.headers["content-length"]))
        return super().handle_request(request)


class _HalfThenDrop(httpx.SyncByteStream):
    def __init__(self, inner: Any, length: int) -> None:
        self.inner, self.half = inner, length // 2

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for data in self.inner:
            yield data
            sent += len(data)
            if sent >= self.half:
                raise httpx.WriteError("connection dropped by the test")


@pytest.fixture
def small_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions from 16 MiB, in 8 MiB chunks, with short backoff: the same code, less time."""
    monkeypatch.setattr(_sessions, "SESSION_THRESHOLD", 16 * MiB)
    monkeypatch.setattr(_sessions, "CHUNK_SIZE", 8 * MiB)
    monkeypatch.setattr(_sessions, "BACKOFF", 0.01)


@pytest.mark.slow
def test_dropped_upload_resumes_and_a_second_version_sends_nothing(
    live: Any, small_sessions: None, tmp_path: Path
) -> None:
    data = os.urandom(64 * MiB)
    local = tmp_path / "model.bin"
    local.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    net = DroppingTransport(drop_at=32 * MiB)
    with Client(live.url, live.registry.admin_token, transport=net) as client:
        model = client.new_model("big")
        v1 = model.new_model_version()
        progress: list[int] = []
        began = time.perf_counter()
        [artifact] = v1.upload_artifact(local, progress.append)
        first = time.perf_counter() - began
        assert artifact.sha256 == digest and artifact.size == len(data)
        assert sum(progress) == len(data)
        chunk_puts = [r for m, _, r in net.seen if m == "PUT"]
        # 8 chunks; the one at 32 MiB went twice (dropped, then resent); none other again
        assert len(chunk_puts) == 9 and len(set(chunk_puts)) == 8
        assert ("GET", f"{v1._path}/uploads/{_session_id(net)}", "") in net.seen
        v1.finish()

        fetched = tmp_path / "back.bin"
        v1.download("model.bin", fetched)
        assert hashlib.sha256(fetched.read_bytes()).hexdigest() == digest
        assert len(live.registry.blob_files()) == 1
        assert list(live.sessions.staging_dir.iterdir()) == []

        v2 = model.new_model_version()
        net.seen.clear()
        began = time.perf_counter()
        [again] = v2.upload_artifact(local)
        second = time.perf_counter() - began
        assert again.sha256 == digest
        assert [m for m, path, _ in net.seen if m == "PUT" or path.endswith("/uploads")] == []
        assert [path for _, path, _ in net.seen] == [f"{v2._path}/files:dedup"]
        assert second < first
        assert len(live.registry.blob_files()) == 1


def _session_id(net: DroppingTransport) -> str:
    return next(p.rsplit("/", 1)[1] for m, p, _ in net.seen if m == "PUT")


def test_a_chunk_cut_off_mid_body_is_not_recorded(live: Any, tmp_path: Path) -> None:
    data = os.urandom(2 * MiB)
    with httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {live.registry.admin_token}"}
    ) as http:
        assert http.post("/api/v1/models", json={"name": "m"}).status_code == 201
        assert http.post("/api/v1/models/default/m/versions", json={}).status_code == 201
        base = "/api/v1/models/default/m/versions/1/uploads"
        s = http.post(base, json={"path": "w.bin", "size": len(data)}).json()

        def body() -> Iterator[bytes]:
            yield data[: MiB // 2]
            raise httpx.WriteError("dropped")

        with pytest.raises(httpx.WriteError):
            http.put(
                f"{base}/{s['id']}",
                content=body(),
                headers={
                    "Content-Range": f"bytes 0-{MiB - 1}/{len(data)}",
                    "Content-Length": str(MiB),
                },
            )
        deadline = time.monotonic() + 5
        while http.get(f"{base}/{s['id']}").json()["received"] != []:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for start in (0, MiB):
            r = http.put(
                f"{base}/{s['id']}",
                content=data[start : start + MiB],
                headers={"Content-Range": f"bytes {start}-{start + MiB - 1}/{len(data)}"},
            )
            assert r.status_code == 200, r.text
        done = http.post(f"{base}/{s['id']}/finish")
        assert done.json()["sha256"] == hashlib.sha256(data).hexdigest()
