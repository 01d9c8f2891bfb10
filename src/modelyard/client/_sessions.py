"""Sending one local file the cheapest way: dedup first, then one PUT or a resumable session.

- **Dedup**: the file's SHA-256 is computed anyway; if the server already stores that content,
  ``POST .../files:dedup`` registers the file and not a byte is sent.
- **Small files** (below ``SESSION_THRESHOLD``) go in one streamed ``PUT .../files/{path}``.
- **Large files** go through an upload session in ``CHUNK_SIZE`` pieces. A chunk that fails
  (connection dropped, timeout, 5xx, or 409 CONFLICT while the server still winds up the
  dropped request for the same bytes) is retried up to ``RETRIES`` times with exponential
  backoff; before each retry the server is asked which ranges it holds, so only what is
  missing is sent again. Progress is reported as chunks are stored.
- **Resume across processes**: before starting a session, the caller's open sessions for the
  path are listed; one with the same size and SHA-256 (left by an interrupted earlier push) is
  continued, so only its missing ranges are sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from modelyard.api.schemas import FileOut, UploadList, UploadOut
from modelyard.client._files import CHUNK, Progress, sha256_file
from modelyard.client._transport import Transport, file_path, raise_for_error, segment
from modelyard.errors import ErrorCode, FileNotFound, RegistryError

#: Files this large or larger go through a resumable session.
SESSION_THRESHOLD = 64 * 1024 * 1024
#: Bytes per chunk of a session.
CHUNK_SIZE = 16 * 1024 * 1024
#: Retries of one chunk (or of asking for the received ranges) before giving up.
RETRIES = 5
#: First wait before a retry, in seconds; doubled each time.
BACKOFF = 0.5


def send_file(
    t: Transport,
    base: str,
    name: str,
    local: Path,
    progress: Progress | None = None,
) -> FileOut:
    """Store ``local`` as the file ``name`` of the model or version at ``base``."""
    digest = sha256_file(local)
    size = local.stat().st_size
    try:
        registered = t.call(
            "POST",
            base + "/files:dedup",
            FileOut,
            json={"path": name, "sha256": digest, "size": size},
        )
    except FileNotFound:
        pass
    else:
        if progress:
            progress(size)
        return registered
    if size < SESSION_THRESHOLD:
        return t.upload(f"{base}/files/{file_path(name)}", local, progress, sha256=digest)
    return _session_upload(t, base, name, local, size, digest, progress, CHUNK_SIZE)


def _session_upload(
    t: Transport,
    base: str,
    name: str,
    local: Path,
    size: int,
    digest: str,
    progress: Progress | None,
    chunk_size: int,
) -> FileOut:
    session = _open_session(t, base, name, size, digest)
    url = f"{base}/uploads/{segment(session.id)}"
    reported = _report(session, 0, progress)
    failures = 0
    while True:
        try:
            for start, end in _pieces(session, chunk_size):
                session = _put_chunk(t, url, local, start, end, size)
                failures = 0
                reported = _report(session, reported, progress)
            break
        except (httpx.TransportError, RegistryError) as exc:
            if isinstance(exc, RegistryError) and not _transient(exc):
                raise  # refused, not failed: retrying would not help
            failures += 1
            if failures > RETRIES:
                raise
            time.sleep(BACKOFF * 2 ** (failures - 1))
            session = _resume(t, url, session)
            reported = _report(session, reported, progress)
    # The server streams the whole staged file into the blob store before it answers.
    return t.call("POST", url + "/finish", FileOut, long=True)


def _transient(exc: RegistryError) -> bool:
    """A server error, or CONFLICT: the server is still winding up an earlier request for
    the same bytes (e.g. one whose connection just dropped)."""
    return (exc.status or 0) >= 500 or exc.code == ErrorCode.CONFLICT


def _open_session(t: Transport, base: str, name: str, size: int, digest: str) -> UploadOut:
    """The caller's open session for this very file (same path, size and SHA-256) with the
    most bytes received, or a new one."""
    listed = t.call("GET", base + "/uploads", UploadList, params={"path": name})
    same = [u for u in listed.uploads if u.size == size and u.sha256 == digest]
    if same:
        return max(same, key=lambda u: sum(b - a for a, b in u.received))
    body = {"path": name, "size": size, "sha256": digest}
    return t.call("POST", base + "/uploads", UploadOut, json=body)


def _resume(t: Transport, url: str, session: UploadOut) -> UploadOut:
    """The session as the server knows it; on a failure keep the last known state (the next
    round of chunks finds out again)."""
    try:
        return t.call("GET", url, UploadOut)
    except RegistryError as exc:
        if exc.status is not None and exc.status >= 500:
            return session
        raise
    except httpx.TransportError:
        return session


def _pieces(session: UploadOut, chunk_size: int) -> Iterator[tuple[int, int]]:
    at = 0
    gaps = []
    for a, b in session.received:
        if a > at:
            gaps.append((at, a))
        at = b
    if at < session.size:
        gaps.append((at, session.size))
    for start, end in gaps:
        for a in range(start, end, chunk_size):
            yield a, min(a + chunk_size, end)


def _put_chunk(t: Transport, url: str, local: Path, start: int, end: int, size: int) -> UploadOut:
    response = t._http.put(  # the package's own transport
        url,
        content=_read_range(local, start, end),
        headers={
            "Content-Range": f"bytes {start}-{end - 1}/{size}",
            "Content-Length": str(end - start),
        },
        timeout=t._transfer_timeout,
    )
    raise_for_error(response)
    return UploadOut.model_validate_json(response.content)


def _read_range(local: Path, start: int, end: int) -> Iterator[bytes]:
    with local.open("rb") as f:
        f.seek(start)
        remaining = end - start
        while remaining > 0 and (data := f.read(min(CHUNK, remaining))):
            remaining -= len(data)
            yield data


def _report(session: UploadOut, reported: int, progress: Progress | None) -> int:
    received = sum(b - a for a, b in session.received)
    if progress and received > reported:
        progress(received - reported)
    return max(received, reported)
