"""Downloads larger than one batch: hashed and written on helper threads, flushed to disk as
the file grows, verified, reported as progress; a wrong byte anywhere leaves nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sdk_wire import Handler, model_json

from modelyard import Client, IntegrityError
from modelyard.blobs import hashed_file
from modelyard.client import _files

DATA = os.urandom(11 * 1024 * 1024 + 333)


class Pieces(httpx.SyncByteStream):
    """The body in 64 KiB pieces, as a socket delivers it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        for at in range(0, len(self.data), 65536):
            yield self.data[at : at + 65536]


def serving(body: bytes, digest: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/files/" in request.url.path:
            return httpx.Response(200, stream=Pieces(body), headers={"X-Checksum-Sha256": digest})
        return httpx.Response(200, json=model_json("m"))

    return handler


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_files, "WRITE_BATCH", 1024 * 1024)
    monkeypatch.setattr(hashed_file, "SYNC_EVERY", 3 * 1024 * 1024)


def test_a_download_of_many_batches_arrives_whole(
    mock_client: Callable[[Handler], Client], tmp_path: Path
) -> None:
    progress: list[int] = []
    client = mock_client(serving(DATA, hashlib.sha256(DATA).hexdigest()))
    written = client.get_model("m").download("w.bin", tmp_path / "w.bin", progress=progress.append)
    assert written.read_bytes() == DATA
    assert sum(progress) == len(DATA)
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]


def test_one_wrong_byte_in_a_late_batch_leaves_nothing(
    mock_client: Callable[[Handler], Client], tmp_path: Path
) -> None:
    tampered = bytearray(DATA)
    tampered[9 * 1024 * 1024] ^= 1
    client = mock_client(serving(bytes(tampered), hashlib.sha256(DATA).hexdigest()))
    with pytest.raises(IntegrityError, match="SHA-256"):
        client.get_model("m").download("w.bin", tmp_path / "w.bin")
    assert list(tmp_path.iterdir()) == []
