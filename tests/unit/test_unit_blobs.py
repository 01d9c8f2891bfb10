"""blobs/local.py: streamed, verified, deduplicated, atomic writes and ranged reads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelyard.blobs.local import READ_CHUNK, LocalBlobStore
from modelyard.errors import FileNotFound, IntegrityError

DATA = bytes(range(256)) * 9000  # ~2.3 MB: more than one read chunk
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def stored(blobs: LocalBlobStore) -> list[Path]:
    return sorted(p for p in (blobs.root / "sha256").rglob("*") if p.is_file())


def write(blobs: LocalBlobStore, data: bytes, **expect: object):
    w = blobs.writer()
    for i in range(0, len(data), 100_000):
        w.write(data[i : i + 100_000])
    return w.commit(
        expected_sha256=expect.get("sha"),  # type: ignore[arg-type]
        expected_size=expect.get("size"),  # type: ignore[arg-type]
    )


def test_streamed_write_and_dedup(blobs: LocalBlobStore) -> None:
    first = write(blobs, DATA, sha=SHA, size=len(DATA))
    second = write(blobs, DATA)
    assert first == second
    assert (first.sha256, first.size) == (SHA, len(DATA))
    assert stored(blobs) == [blobs.root / "sha256" / SHA[:2] / SHA]
    assert list(blobs.tmp_dir.iterdir()) == []
    assert blobs.exists(SHA) and blobs.size(SHA) == len(DATA)
    assert b"".join(blobs.read(SHA)) == DATA


@pytest.mark.parametrize(("sha", "size"), [("0" * 64, None), (None, len(DATA) + 1), (SHA, 1)])
def test_mismatch_keeps_nothing(blobs: LocalBlobStore, sha: str | None, size: int | None) -> None:
    with pytest.raises(IntegrityError) as info:
        write(blobs, DATA, sha=sha, size=size)
    assert info.value.field in ("sha256", "size")
    assert stored(blobs) == []
    assert list(blobs.tmp_dir.iterdir()) == []
    assert not blobs.exists(SHA)


def test_abort_cleans_up(blobs: LocalBlobStore) -> None:
    w = blobs.writer()
    w.write(b"partial")
    assert len(list(blobs.tmp_dir.iterdir())) == 1
    w.abort()
    w.abort()  # twice is harmless
    assert list(blobs.tmp_dir.iterdir()) == []
    assert stored(blobs) == []


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 10), (5, 6), (1000, READ_CHUNK + 5000), (len(DATA) - 3, None), (0, None), (7, len(DATA))],
)
def test_ranged_reads(blobs: LocalBlobStore, start: int, end: int | None) -> None:
    write(blobs, DATA)
    assert b"".join(blobs.read(SHA, start, end)) == DATA[start:end]


def test_missing_blob(blobs: LocalBlobStore) -> None:
    with pytest.raises(FileNotFound):
        blobs.read("f" * 64)
    with pytest.raises(FileNotFound):
        blobs.size("f" * 64)
    assert not blobs.exists("f" * 64)
