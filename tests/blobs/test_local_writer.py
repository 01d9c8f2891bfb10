"""The local writer's overlapped work (modelyard.blobs.hashed_file): pieces hashed while a
helper thread writes them, and background flushes every SYNC_EVERY bytes. Small limits here
make a few MB take every path."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest
from blob_support import local_backend

from modelyard.blobs import hashed_file, local
from modelyard.errors import IntegrityError

DATA = os.urandom(3_000_000)
SHA = hashlib.sha256(DATA).hexdigest()
PIECE = 100_000  # over PARALLEL_MIN below: written by the helper thread


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashed_file, "PARALLEL_MIN", 50_000)
    monkeypatch.setattr(hashed_file, "SYNC_EVERY", 250_000)


def pour(writer: local.LocalBlobWriter, data: bytes, piece: int = PIECE) -> None:
    for i in range(0, len(data), piece):
        writer.write(data[i : i + piece])


def test_pieces_of_both_sizes_are_stored_in_order(tmp_path: Path) -> None:
    backend = local_backend(tmp_path)
    writer = backend.store.writer()
    pour(writer, DATA[:1_000_000], piece=7_000)  # small pieces: written in the caller's thread
    pour(writer, DATA[1_000_000:])
    info = writer.commit(expected_sha256=SHA, expected_size=len(DATA))
    assert info.sha256 == SHA
    assert backend.store.path_for(SHA).read_bytes() == DATA
    assert backend.leftovers() == [f"sha256/{SHA[:2]}/{SHA}"]


def test_failed_background_sync_fails_the_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_disk(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(hashed_file, "_datasync", broken_disk)
    backend = local_backend(tmp_path)
    writer = backend.store.writer()
    with pytest.raises(OSError, match="Input/output error"):
        pour(writer, DATA)
        writer.commit(expected_sha256=SHA, expected_size=len(DATA))
    writer.abort()
    assert backend.leftovers() == []


def test_mismatch_after_background_syncs_keeps_nothing(tmp_path: Path) -> None:
    backend = local_backend(tmp_path)
    writer = backend.store.writer()
    pour(writer, DATA)
    with pytest.raises(IntegrityError):
        writer.commit(expected_sha256="0" * 64, expected_size=len(DATA))
    assert backend.leftovers() == []
