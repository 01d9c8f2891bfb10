"""A chunk is flushed to disk in the background as it arrives (every FLUSH_EVERY bytes), so
the fdatasync that ends it is short; a failed flush fails the chunk and records nothing."""

from __future__ import annotations

import errno
import hashlib
import os
from typing import Any

import pytest

from modelyard.domain import uploads

V = "/api/v1/models/default/m/versions/1"
DATA = os.urandom(3_000_000)


@pytest.fixture(autouse=True)
def small_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "FLUSH_EVERY", 256 * 1024)


def _session(c: Any) -> str:
    assert c.post("/api/v1/models", json={"name": "m"}).status_code == 201
    assert c.post("/api/v1/models/default/m/versions", json={}).status_code == 201
    digest = hashlib.sha256(DATA).hexdigest()
    r = c.post(V + "/uploads", json={"path": "w.bin", "size": len(DATA), "sha256": digest})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _put(c: Any, sid: str, start: int, end: int) -> Any:
    def pieces() -> Any:  # the body in 100 kB pieces: many writes, several flushes
        for at in range(start, end, 100_000):
            yield DATA[at : min(at + 100_000, end)]

    return c.put(
        f"{V}/uploads/{sid}",
        content=pieces(),
        headers={"Content-Range": f"bytes {start}-{end - 1}/{len(DATA)}"},
    )


def test_chunks_flushed_as_they_arrive_finish_intact(up: Any) -> None:
    c = up.api.admin
    sid = _session(c)
    assert _put(c, sid, 0, 2_000_000).status_code == 200
    assert _put(c, sid, 2_000_000, len(DATA)).status_code == 200
    assert c.post(f"{V}/uploads/{sid}/finish").status_code == 201
    assert c.get(f"{V}/files/w.bin").content == DATA


def test_a_failed_flush_fails_the_chunk_and_records_nothing(
    up: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = up.api.admin
    sid = _session(c)

    def broken_disk(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(uploads.os, "fdatasync", broken_disk)
    with pytest.raises(OSError, match="Input/output error"):  # the in-process app re-raises
        _put(c, sid, 0, 2_000_000)
    monkeypatch.undo()
    assert c.get(f"{V}/uploads/{sid}").json()["received"] == []
