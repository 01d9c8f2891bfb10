"""The SDK against real servers on 127.0.0.1: an upload whose connection is dropped at about
half-way resumes and finishes intact, stored once (1 GiB against a ``modelyard server``
process, and a small variant for quick runs); the same file again sends no bytes; and a
session left open by one process is continued by the next push of the same file."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard import Client
from modelyard.client import _sessions

MiB = 1024 * 1024
GiB = 1024 * MiB


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

    def chunk_puts(self) -> list[str]:
        return [r for m, _, r in self.seen if m == "PUT"]


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


def write_random(path: Path, size: int) -> str:
    """Fill ``path`` with ``size`` random bytes, 8 MiB at a time; returns their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for at in range(0, size, 8 * MiB):
            data = os.urandom(min(8 * MiB, size - at))
            digest.update(data)
            f.write(data)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sessions, "BACKOFF", 0.01)


@pytest.fixture
def small_sessions(monkeypatch: pytest.MonkeyPatch, quick_backoff: None) -> None:
    """Sessions from 16 MiB, in 4 MiB chunks: the same code, less time."""
    monkeypatch.setattr(_sessions, "SESSION_THRESHOLD", 16 * MiB)
    monkeypatch.setattr(_sessions, "CHUNK_SIZE", 4 * MiB)


def _drop_resume_and_dedup(
    url: str,
    token: str,
    blob_files: Callable[[], list[Path]],
    staging_dir: Path,
    tmp_path: Path,
    size: int,
    chunk: int,
) -> None:
    local = tmp_path / "model.bin"
    digest = write_random(local, size)
    half = size // 2
    net = DroppingTransport(drop_at=half)
    with Client(url, token, transport=net) as client:
        model = client.new_model("big")
        v1 = model.new_model_version()
        progress: list[int] = []
        began = time.perf_counter()
        [artifact] = v1.upload_artifact(local, progress.append)
        first = time.perf_counter() - began
        assert artifact.sha256 == digest and artifact.size == size
        assert sum(progress) == size
        # the chunk at half-way went again (dropped, then resent; once more if the server
        # still held the dropped request's range, a 409 the SDK retries); no other chunk again
        chunks = size // chunk
        puts = net.chunk_puts()
        dropped = f"bytes {half}-{half + chunk - 1}/{size}"
        assert len(set(puts)) == chunks and puts.count(dropped) >= 2
        assert all(puts.count(p) == 1 for p in set(puts) - {dropped})
        session_id = next(p.rsplit("/", 1)[1] for m, p, _ in net.seen if m == "PUT")
        assert ("GET", f"{v1._path}/uploads/{session_id}", "") in net.seen
        v1.finish()

        fetched = tmp_path / "back.bin"
        v1.download("model.bin", fetched)
        assert sha256_of(fetched) == digest
        fetched.unlink()
        assert [(p.name, p.stat().st_size) for p in blob_files()] == [(digest, size)]
        assert list(staging_dir.iterdir()) == []

        v2 = model.new_model_version()
        net.seen.clear()
        began = time.perf_counter()
        [again] = v2.upload_artifact(local)
        second = time.perf_counter() - began
        assert again.sha256 == digest
        assert [path for _, path, _ in net.seen] == [f"{v2._path}/files:dedup"]
        assert second < first
        assert len(blob_files()) == 1
    local.unlink()


@pytest.mark.slow
def test_1gib_upload_dropped_at_half_resumes_intact_and_is_stored_once(
    server_process: Any, quick_backoff: None, tmp_path: Path
) -> None:
    """Issue 3's acceptance check, with the SDK's own threshold and chunk size."""
    _drop_resume_and_dedup(
        server_process.url,
        server_process.admin_token,
        server_process.blob_files,
        server_process.staging_dir,
        tmp_path,
        GiB,
        _sessions.CHUNK_SIZE,
    )
    assert "Traceback" not in server_process.output()


def test_small_upload_dropped_at_half_resumes_intact_and_is_stored_once(
    live: Any, small_sessions: None, tmp_path: Path
) -> None:
    _drop_resume_and_dedup(
        live.url,
        live.registry.admin_token,
        live.registry.blob_files,
        live.sessions.staging_dir,
        tmp_path,
        32 * MiB,
        4 * MiB,
    )


def test_a_new_process_continues_the_open_session_of_the_same_file(
    live: Any, small_sessions: None, tmp_path: Path
) -> None:
    size, chunk = 32 * MiB, 4 * MiB
    local = tmp_path / "model.bin"
    digest = write_random(local, size)
    data = local.read_bytes()
    token = live.registry.admin_token
    with Client(live.url, token) as first:
        first.new_model("m").new_model_version()
    base = "/api/v1/models/default/m/versions/1/uploads"
    # an earlier process started the session and sent every other chunk before it died
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"}) as http:
        started = {"path": "model.bin", "size": size, "sha256": digest}
        # sessions that must not be picked: another size, another content, another path
        for body in (
            {**started, "size": size - 1},
            {**started, "sha256": "0" * 64},
            {**started, "path": "other.bin"},
        ):
            assert http.post(base, json=body).status_code == 201
        s = http.post(base, json=started).json()
        sent = [(a, a + chunk) for a in range(0, size, 2 * chunk)]
        for a, b in sent:
            r = http.put(
                f"{base}/{s['id']}",
                content=data[a:b],
                headers={"Content-Range": f"bytes {a}-{b - 1}/{size}"},
            )
            assert r.status_code == 200, r.text

    net = DroppingTransport()
    with Client(live.url, token, transport=net) as fresh:
        progress: list[int] = []
        [artifact] = fresh.get_model("m").get_version(1).upload_artifact(local, progress.append)
    assert artifact.sha256 == digest and artifact.size == size
    assert sum(progress) == size
    missing = [f"bytes {a + chunk}-{a + 2 * chunk - 1}/{size}" for a, _ in sent]
    assert net.chunk_puts() == missing
    assert ("POST", base, "") not in net.seen  # no new session
    assert [p for m, p, _ in net.seen if m == "PUT"] == [f"{base}/{s['id']}"] * len(missing)
    assert [(p.name, p.stat().st_size) for p in live.registry.blob_files()] == [(digest, size)]
    # the three other sessions stay open for whoever started them
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"}) as http:
        assert len(http.get(base).json()["uploads"]) == 3


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
