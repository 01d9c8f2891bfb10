"""Local side of transfers: which files to send, hashing, streamed bodies, verified writes.

Memory stays bounded whatever the size: files are read and written in ``CHUNK`` pieces.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx

from modelyard.blobs.hashed_file import HashedFile
from modelyard.domain.ids import FilePath
from modelyard.errors import IntegrityError, InvalidArgument

CHUNK = 1024 * 1024
#: Downloaded bytes gathered before one hand-off to the thread that hashes and writes them.
WRITE_BATCH = 4 * 1024 * 1024

#: Called with the number of bytes just transferred.
Progress = Callable[[int], None]

PathLike = str | os.PathLike[str]


def collect(files: PathLike | Iterable[PathLike]) -> list[tuple[Path, str]]:
    """(local file, path in the registry) for each file; a directory gives every file under
    it, named by its path relative to that directory."""
    items = [files] if isinstance(files, str | os.PathLike) else list(files)
    found: list[tuple[Path, str]] = []
    for item in items:
        local = Path(item)
        if local.is_dir():
            found.extend(
                (p, p.relative_to(local).as_posix())
                for p in sorted(local.rglob("*"))
                if p.is_file()
            )
        elif local.is_file():
            found.append((local, local.name))
        else:
            raise InvalidArgument(f"{local}: no such file or directory", field="files")
    return found


def inside(root: Path, path: str) -> Path:
    """Where the registry file ``path`` goes under the local directory ``root``.

    The path comes from the server (or a caller), so it is not trusted: it must be a valid
    registry path (no '..', absolute or empty parts, backslashes or control characters) and
    must resolve, symlinks followed, to somewhere inside ``root``. Otherwise
    :class:`InvalidArgument` is raised and nothing is written.
    """
    parsed = FilePath.parse(path)
    target = root / parsed
    base = root.resolve()
    if not target.resolve().is_relative_to(base):
        raise InvalidArgument(
            f"path: {path!r} would be written outside {root}; refusing to download it",
            field="path",
        )
    return target


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_chunks(path: Path, progress: Progress | None = None) -> Iterator[bytes]:
    """The file's bytes as an upload body, reporting progress as each chunk leaves."""
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
            if progress:
                progress(len(chunk))


def write_verified(
    response: httpx.Response, dest: Path, expected_sha256: str | None, progress: Progress | None
) -> Path:
    """Stream a download into a temp file beside ``dest``, check its SHA-256, then rename.

    The body is gathered into ``WRITE_BATCH`` pieces, each hashed and written (and flushed to
    disk as the file grows, :class:`HashedFile`) on helper threads while the next is received.
    ``dest`` never holds partial or corrupt bytes: on any failure the temp file is removed.
    """
    expected = expected_sha256 or response.headers.get("x-checksum-sha256") or None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    out = HashedFile(fd)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="modelyard-download") as helper:
            writing: Future[None] | None = None
            batch: list[bytes] = []
            batched = 0
            for piece in response.iter_bytes():
                batch.append(piece)
                batched += len(piece)
                if batched >= WRITE_BATCH:
                    if writing is not None:
                        writing.result()
                    writing = helper.submit(out.write, b"".join(batch))
                    if progress:
                        progress(batched)
                    batch, batched = [], 0
            if writing is not None:
                writing.result()
        out.write(b"".join(batch))
        if progress and batched:
            progress(batched)
        out.finish()
        digest = out.hexdigest()
        if expected and digest != expected.removeprefix("sha256:"):
            raise IntegrityError(
                f"{dest.name}: downloaded bytes have SHA-256 {digest}, "
                f"expected {expected}; nothing was written"
            )
        os.replace(tmp, dest)
    except BaseException:
        out.close()
        tmp.unlink(missing_ok=True)
        raise
    return dest
