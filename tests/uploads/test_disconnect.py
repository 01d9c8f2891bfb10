"""A client that drops its connection mid-body, against a ``modelyard server`` process: the
write is abandoned (nothing recorded, no temporary or staged bytes left) and the server logs
no traceback."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

MiB = 1024 * 1024
V = "/api/v1/models/default/m/versions/1"


def _send_half_and_drop(url: str, token: str, path: str, headers: dict[str, str]) -> None:
    """PUT announcing 1 MiB, send half of it, then close the socket."""
    host, port = url.removeprefix("http://").split(":")
    head = [f"PUT {path} HTTP/1.1", f"Host: {host}:{port}", f"Authorization: Bearer {token}"]
    head += [f"{k}: {v}" for k, v in {"Content-Length": str(MiB), **headers}.items()]
    with socket.create_connection((host, int(port))) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        s.sendall(b"x" * (MiB // 2))
        time.sleep(0.3)  # the server is reading the body when the connection goes


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def http(server_process: Any) -> Any:
    with httpx.Client(
        base_url=server_process.url,
        headers={"Authorization": f"Bearer {server_process.admin_token}"},
    ) as client:
        assert client.post("/api/v1/models", json={"name": "m"}).status_code == 201
        assert client.post("/api/v1/models/default/m/versions", json={}).status_code == 201
        yield client


def _tmp_blobs(server_process: Any) -> list[Any]:
    return sorted((server_process.home / "blobs" / "tmp").iterdir())


def test_a_single_put_dropped_mid_body_stores_nothing_and_logs_no_traceback(
    server_process: Any, http: Any
) -> None:
    _send_half_and_drop(server_process.url, server_process.admin_token, f"{V}/files/w.bin", {})
    _wait_for(lambda: _tmp_blobs(server_process) == [], "the temporary blob was not removed")
    assert http.get(f"{V}/files").json()["files"] == []
    assert server_process.blob_files() == []
    # the server still serves, and a whole upload of the same path works
    assert http.put(f"{V}/files/w.bin", content=b"abc").status_code == 201
    assert "Traceback" not in server_process.output()
    assert "ClientDisconnect" not in server_process.output()


def test_a_chunk_dropped_mid_body_records_nothing_and_logs_no_traceback(
    server_process: Any, http: Any
) -> None:
    size = 2 * MiB
    s = http.post(f"{V}/uploads", json={"path": "w.bin", "size": size}).json()
    _send_half_and_drop(
        server_process.url,
        server_process.admin_token,
        f"{V}/uploads/{s['id']}",
        {"Content-Range": f"bytes 0-{MiB - 1}/{size}"},
    )
    # give the server time to see the disconnect; the range must never be recorded
    time.sleep(0.5)
    assert http.get(f"{V}/uploads/{s['id']}").json()["received"] == []
    assert http.delete(f"{V}/uploads/{s['id']}").status_code == 204
    assert list(server_process.staging_dir.iterdir()) == []
    assert _tmp_blobs(server_process) == []
    assert "Traceback" not in server_process.output()
    assert "ClientDisconnect" not in server_process.output()
