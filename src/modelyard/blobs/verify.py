"""The check every blob writer makes before publishing: the bytes are the ones declared."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from modelyard.domain.ports import BlobInfo, BlobWriter
from modelyard.errors import IntegrityError

READ = 4 * 1024 * 1024


class _Writable(Protocol):
    def writer(self) -> BlobWriter: ...


def sha256_of(path: Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size of a file, read in large pieces."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while data := f.read(READ):
            h.update(data)
            size += len(data)
    return h.hexdigest(), size


def adopt_by_copy(
    store: _Writable, path: Path, *, expected_sha256: str | None, expected_size: int | None
) -> BlobInfo:
    """:meth:`BlobStore.adopt` for stores that cannot take a local file as it is: stream it
    through a writer, then remove it."""
    writer = store.writer()
    try:
        with path.open("rb") as f:
            while data := f.read(READ):
                writer.write(data)
    except BaseException:
        writer.abort()
        raise
    info = writer.commit(expected_sha256=expected_sha256, expected_size=expected_size)
    path.unlink(missing_ok=True)
    return info


def check_received(
    *, digest: str, size: int, expected_sha256: str | None, expected_size: int | None
) -> None:
    """Raise IntegrityError (naming ``size`` or ``sha256``) when what was received differs
    from what the client declared."""
    if expected_size is not None and expected_size != size:
        raise IntegrityError(
            f"size: expected {expected_size} bytes, received {size}; nothing stored",
            field="size",
        )
    if expected_sha256 is not None and expected_sha256 != digest:
        raise IntegrityError(
            f"sha256: expected {expected_sha256}, content hashes to {digest}; nothing stored",
            field="sha256",
            details={"expected": expected_sha256, "actual": digest},
        )
