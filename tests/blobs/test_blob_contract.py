"""The blob-store contract, the same on every backend: a local directory and S3 (SeaweedFS)."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from blob_support import S3_PART, Backend

from modelyard.blobs.local import READ_CHUNK, LocalBlobStore
from modelyard.errors import FileNotFound, IntegrityError

DATA = bytes(range(256)) * 9000  # ~2.3 MB: more than one read chunk, less than one S3 part
SHA = hashlib.sha256(DATA).hexdigest()
BIG = bytes(range(251)) * (2 * S3_PART // 251 + 1000)  # > 2 parts: a multipart upload on S3
BIG_SHA = hashlib.sha256(BIG).hexdigest()
STEP = 300_000


def write(store: Any, data: bytes, sha: str | None = None, size: int | None = None) -> Any:
    w = store.writer()
    for i in range(0, len(data), STEP):
        w.write(data[i : i + STEP])
    return w.commit(expected_sha256=sha, expected_size=size)


def blob_names(backend: Backend) -> list[str]:
    return sorted(b.sha256 for b in backend.store.iter_blobs())


@pytest.mark.parametrize("data", [DATA, BIG, b""], ids=["small", "multipart", "empty"])
def test_write_commit_read(backend: Backend, data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    info = write(backend.store, data, sha=digest, size=len(data))
    assert (info.sha256, info.size) == (digest, len(data))
    assert backend.store.exists(digest)
    assert backend.store.size(digest) == len(data)
    assert b"".join(backend.store.read(digest)) == data
    assert blob_names(backend) == [digest]
    assert len(backend.leftovers()) == 1  # the blob itself: no temporary file or key


def test_dedup_stores_once(backend: Backend) -> None:
    first = write(backend.store, BIG)
    second = write(backend.store, BIG, sha=BIG_SHA)
    assert first == second
    assert blob_names(backend) == [BIG_SHA]
    assert len(backend.leftovers()) == 1


@pytest.mark.parametrize("data", [DATA, BIG], ids=["small", "multipart"])
@pytest.mark.parametrize(
    ("wrong", "field"), [({"sha": "0" * 64}, "sha256"), ({"size": 1}, "size")], ids=["sha", "size"]
)
def test_mismatch_stores_nothing(
    backend: Backend, data: bytes, wrong: dict[str, Any], field: str
) -> None:
    with pytest.raises(IntegrityError) as info:
        write(backend.store, data, **wrong)
    assert info.value.field == field
    assert "nothing stored" in info.value.message
    assert backend.leftovers() == []
    assert not backend.store.exists(hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("size", [1000, 2 * S3_PART + 1], ids=["small", "after-parts"])
def test_abort_leaves_nothing(backend: Backend, size: int) -> None:
    w = backend.store.writer()
    w.write(BIG[:size])
    w.abort()
    w.abort()  # twice is harmless
    assert backend.leftovers() == []
    assert blob_names(backend) == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 1),
        (0, None),
        (5, 6),
        (1000, READ_CHUNK + 5000),
        (len(DATA) - 1, None),
        (len(DATA) - 1, len(DATA)),
        (7, len(DATA)),
        (10, 10),  # empty range
        (len(DATA), None),  # start at the end: nothing
    ],
)
def test_ranged_reads(backend: Backend, start: int, end: int | None) -> None:
    write(backend.store, DATA)
    assert b"".join(backend.store.read(SHA, start, end)) == DATA[start:end]


def test_ranged_read_across_parts(backend: Backend) -> None:
    write(backend.store, BIG)
    start, end = S3_PART - 10, S3_PART + 10
    assert b"".join(backend.store.read(BIG_SHA, start, end)) == BIG[start:end]


def test_missing_blob(backend: Backend) -> None:
    missing = "f" * 64
    assert not backend.store.exists(missing)
    with pytest.raises(FileNotFound):
        backend.store.size(missing)
    with pytest.raises(FileNotFound):
        backend.store.read(missing)
    with pytest.raises(FileNotFound):
        backend.store.read(missing, 5, 5)
    assert backend.store.delete(missing) is False


def test_iter_blobs_lists_published_blobs_only(backend: Backend) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)  # S3 times have whole seconds
    write(backend.store, DATA)
    write(backend.store, b"other")
    pending = backend.store.writer()
    pending.write(b"still being written")
    try:
        listed = {b.sha256: b for b in backend.store.iter_blobs()}
    finally:
        pending.abort()
    other = hashlib.sha256(b"other").hexdigest()
    assert sorted(listed) == sorted([SHA, other])
    assert (listed[SHA].size, listed[other].size) == (len(DATA), 5)
    for blob in listed.values():
        assert before <= blob.modified_at <= datetime.now(UTC) + timedelta(seconds=2)


def test_delete(backend: Backend) -> None:
    write(backend.store, DATA)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    assert backend.store.delete(SHA, modified_before=long_ago) is False  # too fresh: kept
    assert backend.store.exists(SHA)
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert backend.store.delete(SHA, modified_before=later) is True
    assert not backend.store.exists(SHA)
    assert backend.leftovers() == []
    assert backend.store.delete(SHA) is False
    write(backend.store, DATA)  # written again after a delete
    assert backend.store.delete(SHA) is True
    assert blob_names(backend) == []


def test_touch_renews_a_blob_and_reports_missing_ones(backend: Backend) -> None:
    assert backend.store.touch(SHA) is False
    write(backend.store, DATA)
    if isinstance(backend.store, LocalBlobStore):  # make it old, so a renewal shows
        old = (datetime.now(UTC) - timedelta(days=2)).timestamp()
        os.utime(backend.store.path_for(SHA), (old, old))
    before = datetime.now(UTC) - timedelta(seconds=2)
    assert backend.store.touch(SHA) is True
    (blob,) = [b for b in backend.store.iter_blobs() if b.sha256 == SHA]
    assert blob.modified_at >= before
    assert backend.store.read(SHA).__next__() == DATA[: 1024 * 1024]  # bytes unchanged
    # GC's age check now keeps it.
    assert backend.store.delete(SHA, modified_before=before) is False


def test_adopt_publishes_a_local_file_and_consumes_it(backend: Backend, tmp_path: Path) -> None:
    staged = tmp_path / "staged"
    staged.write_bytes(DATA)
    inode = staged.stat().st_ino
    info = backend.store.adopt(staged, expected_sha256=SHA, expected_size=len(DATA))
    assert (info.sha256, info.size) == (SHA, len(DATA))
    assert b"".join(backend.store.read(SHA)) == DATA
    assert not staged.exists()
    if isinstance(backend.store, LocalBlobStore):  # moved into place, not written again
        assert backend.store.path_for(SHA).stat().st_ino == inode
    again = tmp_path / "again"
    again.write_bytes(DATA)
    assert backend.store.adopt(again, expected_sha256=None, expected_size=None).sha256 == SHA
    assert not again.exists()
    assert blob_names(backend) == [SHA]
    assert all(SHA in name for name in backend.leftovers())  # no temporary objects left


def test_adopt_refuses_a_mismatch_and_stores_nothing(backend: Backend, tmp_path: Path) -> None:
    staged = tmp_path / "staged"
    staged.write_bytes(DATA)
    with pytest.raises(IntegrityError) as refused:
        backend.store.adopt(staged, expected_sha256="0" * 64, expected_size=None)
    assert refused.value.field == "sha256"
    with pytest.raises(IntegrityError):
        backend.store.adopt(staged, expected_sha256=None, expected_size=len(DATA) + 1)
    assert staged.exists()  # left for the caller, which discards its session
    assert blob_names(backend) == []
    assert backend.leftovers() == []
