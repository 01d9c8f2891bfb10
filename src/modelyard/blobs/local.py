"""Content-addressed blobs in a local directory: ``<root>/sha256/ab/<hex>``.

Writes stream into a temporary file in ``<root>/tmp`` while hashing, are checked against the
expected size and digest, fsynced and then published with ``os.replace``; a failure at any
point removes the temporary file, so a half-written blob is never visible. Hashing, writing and
flushing to disk overlap (:mod:`modelyard.blobs.hashed_file`): that roughly doubled a single
PUT's throughput on a 2-core machine, against doing the three one after the other.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from modelyard.blobs.hashed_file import HashedFile
from modelyard.blobs.verify import adopt_by_copy, check_received, sha256_of
from modelyard.domain.ports import BlobInfo, StoredBlob
from modelyard.errors import FileNotFound

READ_CHUNK = 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")


class LocalBlobWriter:
    """Writes through a :class:`HashedFile`: hashing, writing and flushing to disk overlap."""

    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="upload-")
        self._file = HashedFile(fd)
        self._tmp = Path(name)
        self._done = False

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self, *, expected_sha256: str | None, expected_size: int | None) -> BlobInfo:
        try:
            digest, size = self._file.hexdigest(), self._file.size
            check_received(
                digest=digest,
                size=size,
                expected_sha256=expected_sha256,
                expected_size=expected_size,
            )
            self._file.finish()
            target = self._store.path_for(digest)
            try:
                # Dedup: identical content is already there. Touching it restarts gc's grace
                # period, so a collection running now cannot remove what this upload returns.
                os.utime(target)
            except FileNotFoundError:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._tmp, target)
                os.utime(target)
                _fsync_dir(target.parent)
            else:
                self._tmp.unlink()
            self._done = True
            return BlobInfo(sha256=digest, size=size)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()


class LocalBlobStore:
    """Implements :class:`modelyard.domain.ports.BlobStore` on a directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        # Owner-only: these are the bytes of private models too.
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.tmp_dir.mkdir(mode=0o700, exist_ok=True)
        (self.root / "sha256").mkdir(mode=0o700, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def writer(self) -> LocalBlobWriter:
        return LocalBlobWriter(self)

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            raise FileNotFound(f"blob sha256:{sha256} is missing from the blob store") from None

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        try:
            f = self.path_for(sha256).open("rb")
        except FileNotFoundError:
            raise FileNotFound(f"blob sha256:{sha256} is missing from the blob store") from None
        return _read_range(f, start, end)

    def adopt(
        self, path: Path, *, expected_sha256: str | None, expected_size: int | None
    ) -> BlobInfo:
        digest, size = sha256_of(path)
        check_received(
            digest=digest, size=size, expected_sha256=expected_sha256, expected_size=expected_size
        )
        target = self.path_for(digest)
        if target.exists():  # dedup: identical content is already there
            os.utime(target)
            path.unlink()
            return BlobInfo(sha256=digest, size=size)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Staging on another filesystem: copy through a writer instead.
            return adopt_by_copy(self, path, expected_sha256=digest, expected_size=size)
        os.utime(target)  # new to the store: GC's grace period starts now
        _fsync_dir(target.parent)
        return BlobInfo(sha256=digest, size=size)

    def touch(self, sha256: str) -> bool:
        try:
            os.utime(self.path_for(sha256))
        except FileNotFoundError:
            return False
        return True

    def iter_blobs(self) -> Iterator[StoredBlob]:
        for shard in sorted((self.root / "sha256").iterdir()):
            for path in sorted(shard.iterdir()) if shard.is_dir() else ():
                try:
                    st = path.stat()
                except FileNotFoundError:  # removed since the listing
                    continue
                if stat.S_ISREG(st.st_mode) and _HEX64.fullmatch(path.name):
                    yield StoredBlob(
                        sha256=path.name,
                        size=st.st_size,
                        modified_at=datetime.fromtimestamp(st.st_mtime, UTC),
                    )

    def delete(self, sha256: str, *, modified_before: datetime | None = None) -> bool:
        path = self.path_for(sha256)
        try:
            if modified_before is not None:
                mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                if mtime >= modified_before:
                    return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True


def _read_range(f: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
    with f:
        f.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            chunk = f.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
