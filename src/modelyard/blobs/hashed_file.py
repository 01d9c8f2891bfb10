"""A file written while it is hashed and made durable as it grows: the local blob store writes
uploads through it, and the SDK writes downloads through it.

Each piece is hashed in the calling thread while a helper thread writes it (both release the
GIL, so they use two cores). Every ``SYNC_EVERY`` bytes the helper also starts flushing what was
written so far to disk, so the disk works while the rest arrives and the ``fsync`` of
:meth:`HashedFile.finish` has little left to do. A failed background flush fails the next
write, or the finish.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor

#: Bytes written between two background flushes.
SYNC_EVERY = 64 * 1024 * 1024
#: Pieces at least this large are hashed and written in parallel; smaller ones in turn.
PARALLEL_MIN = 256 * 1024


class HashedFile:
    """Owns the open file descriptor ``fd`` (positioned where writing starts)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._hash = hashlib.sha256()
        self.size = 0
        self._unsynced = 0
        self._helper: ThreadPoolExecutor | None = None
        self._sync: Future[None] | None = None

    def write(self, data: bytes) -> None:
        if len(data) < PARALLEL_MIN:
            self._hash.update(data)
            _write_all(self._fd, data)
        else:
            written = self._threads().submit(_write_all, self._fd, data)
            self._hash.update(data)
            written.result()
        self.size += len(data)
        self._unsynced += len(data)
        if self._unsynced >= SYNC_EVERY and (self._sync is None or self._sync.done()):
            self._unsynced = 0
            if self._sync is not None:
                self._sync.result()  # raises what a failed flush raised
            self._sync = self._threads().submit(_datasync, self._fd)

    def hexdigest(self) -> str:
        """The SHA-256 of everything written so far."""
        return self._hash.hexdigest()

    def finish(self) -> None:
        """Make every byte durable (raising what a background flush raised), then close."""
        try:
            self._stop_helper()
            os.fsync(self._fd)
        finally:
            self.close()

    def close(self) -> None:
        """Close without making anything durable (the bytes are being discarded); idempotent."""
        if self._fd < 0:
            return
        try:
            self._stop_helper()
        except OSError:
            pass  # a failed flush of bytes that are thrown away
        finally:
            os.close(self._fd)
            self._fd = -1

    def _threads(self) -> ThreadPoolExecutor:
        if self._helper is None:  # two: one write and one flush may run at once
            self._helper = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hashed-file")
        return self._helper

    def _stop_helper(self) -> None:
        """Wait for the helper threads; raise what the last background flush raised."""
        if self._helper is not None:
            self._helper.shutdown(wait=True)
            self._helper = None
        sync, self._sync = self._sync, None
        if sync is not None:
            sync.result()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _datasync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)  # macOS has no fdatasync
