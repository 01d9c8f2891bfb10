"""Chunked, resumable upload sessions, and registering a file by digest (dedup before transfer).

A session declares a file's path and size (and optionally its SHA-256). Chunks arrive as byte
ranges in any order and are written into a sparse staging file of that size under the server's
home; the ranges received so far are recorded in the database, so a client that lost its
connection asks for them and sends only what is missing. Finishing checks that every byte
arrived, then streams the staging file through :meth:`RegistryService.begin_upload` -- the same
commit path as a single-request upload (hashed on the way, verified, published atomically).

A chunk being received holds its byte range until it ends: a second request for overlapping
bytes is refused (409), and so is finishing while any chunk is still arriving, so no write can
land in the file after it was hashed (on the local store the staging file itself becomes the
blob). This bookkeeping lives in the server process, so one process should serve a session.

Every call checks the caller's rights on the target exactly as a single upload does
(:meth:`RegistryService.file_target` with ``write=True``), and a session is visible only to the
user who started it, who can list their open ones for a target (:meth:`UploadSessions.list_open`)
to resume from another process. Sessions expire ``ttl`` after they start;
:meth:`UploadSessions.clean_expired` removes their rows and staging files (called on server
start and whenever a session starts).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

from modelyard.domain.entities import FileEntry, User
from modelyard.domain.enums import FileType
from modelyard.domain.ids import Digest, FilePath, new_id
from modelyard.domain.ports import BlobInfo
from modelyard.domain.service import FileTarget, RegistryService
from modelyard.errors import (
    Conflict,
    FailedPrecondition,
    FileNotFound,
    IntegrityError,
    InvalidArgument,
    NotFound,
)

#: What the server suggests as a chunk size; any size works.
CHUNK_SIZE_HINT = 16 * 1024 * 1024
#: Bytes of a chunk written between two background flushes to disk.
FLUSH_EVERY = 4 * 1024 * 1024
#: The largest file size a session accepts (a signed 64-bit byte count).
MAX_FILE_SIZE = 2**63 - 1

Range = tuple[int, int]
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class UploadSession:
    """A file upload in progress; ``received`` holds sorted, disjoint ``[start, end)`` ranges."""

    id: str
    parent_id: str
    user_id: str
    path: str
    size: int
    sha256: str | None
    mime_type: str
    file_type: FileType
    received: tuple[Range, ...]
    created_at: datetime
    expires_at: datetime

    @property
    def complete(self) -> bool:
        return self.size == 0 or self.received == ((0, self.size),)

    def missing(self) -> list[Range]:
        """The ranges still to send."""
        gaps, at = [], 0
        for start, end in self.received:
            if start > at:
                gaps.append((at, start))
            at = end
        if at < self.size:
            gaps.append((at, self.size))
        return gaps


class UploadSessionStore(Protocol):
    """The session table (``store/sessions.py``). Each method is one transaction."""

    def create(self, session: UploadSession) -> None: ...

    def get(self, session_id: str) -> UploadSession | None: ...

    def list_open(
        self, parent_id: str, user_id: str, now: datetime, path: str | None = None
    ) -> list[UploadSession]:
        """The user's sessions on ``parent_id`` (of file ``path``, when given) that have not
        expired by ``now``, oldest first."""
        ...

    def update_received(
        self, session_id: str, merge: Callable[[tuple[Range, ...]], tuple[Range, ...]]
    ) -> UploadSession | None:
        """Replace ``received`` by ``merge(received)`` with the row locked; None if gone."""
        ...

    def delete(self, session_id: str) -> None: ...

    def delete_expired(self, now: datetime) -> list[str]:
        """Delete sessions that expired by ``now``; returns their ids."""
        ...


def merge_range(received: tuple[Range, ...], new: Range) -> tuple[Range, ...]:
    """``received`` with ``new`` added, adjacent ranges joined. A range partly overlapping
    received bytes is refused (a whole re-send of received bytes is not: it changes nothing)."""
    start, end = new
    for a, b in received:
        if a <= start and end <= b:
            return received
        if start < b and a < end:
            raise InvalidArgument(
                f"Content-Range: bytes {start}-{end - 1} overlap bytes {a}-{b - 1} already "
                "received; send only missing ranges (GET the session to see them)",
                field="Content-Range",
            )
    merged: list[Range] = []
    for a, b in sorted((*received, new)):
        if merged and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return tuple(merged)


class Chunk:
    """One range's bytes on their way into the staging file: :meth:`write`, then
    :meth:`finish` (records the range) or :meth:`abort` (records nothing)."""

    def __init__(self, sessions: UploadSessions, session: UploadSession, start: int, end: int):
        self._sessions = sessions
        self.session = session
        self.start, self.end = start, end
        self._received = 0
        self._released = False
        self._skip = merge_range(session.received, (start, end)) == session.received
        self._file = None if self._skip else sessions.staging_file(session.id).open("r+b")
        if self._file is not None:
            self._file.seek(start)
        self._unsynced = 0
        self._flusher: ThreadPoolExecutor | None = None
        self._flush: Future[None] | None = None

    def write(self, data: bytes) -> None:
        if self._received + len(data) > self.end - self.start:
            raise InvalidArgument(
                f"body: more bytes than Content-Range bytes {self.start}-{self.end - 1} "
                f"announces ({self.end - self.start})",
                field="body",
            )
        self._received += len(data)
        if self._file is not None:
            self._file.write(data)
            self._unsynced += len(data)
            if self._unsynced >= FLUSH_EVERY and (self._flush is None or self._flush.done()):
                # Start writing what arrived to disk while the rest of the chunk arrives, so
                # the fdatasync that finishes the chunk has little left to wait for.
                self._unsynced = 0
                if self._flush is not None:
                    self._flush.result()
                if self._flusher is None:
                    self._flusher = ThreadPoolExecutor(1, thread_name_prefix="chunk-flush")
                self._file.flush()
                self._flush = self._flusher.submit(os.fdatasync, self._file.fileno())

    def finish(self) -> UploadSession:
        try:
            if self._received != self.end - self.start:
                raise InvalidArgument(
                    f"body: expected {self.end - self.start} bytes for Content-Range bytes "
                    f"{self.start}-{self.end - 1}, received {self._received}",
                    field="body",
                )
            if self._file is not None:
                self._file.flush()
                self._stop_flushing()
                os.fdatasync(self._file.fileno())
                self._file.close()
                self._file = None
            updated = self._sessions.store.update_received(
                self.session.id, lambda received: merge_range(received, (self.start, self.end))
            )
        finally:
            self.abort()  # the range is free again only once it is recorded
        if updated is None:
            raise self._sessions.not_found(self.session.id)
        return updated

    def _stop_flushing(self) -> None:
        """Wait for the background flush, raising what it raised."""
        if self._flusher is not None:
            self._flusher.shutdown(wait=True)
            self._flusher = None
        flush, self._flush = self._flush, None
        if flush is not None:
            flush.result()

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # the chunk is discarded anyway
                self._stop_flushing()
            self._file.close()
            self._file = None
        if not self._released:
            self._released = True
            self._sessions.release(self.session.id, (self.start, self.end))


class UploadSessions:
    """The upload-session use cases, on top of a :class:`RegistryService`."""

    def __init__(
        self,
        service: RegistryService,
        store: UploadSessionStore,
        staging_dir: Path,
        *,
        ttl: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.service = service
        self.store = store
        self.staging_dir = Path(staging_dir)
        self.staging_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ttl = ttl
        self._clock = clock
        # Chunks being received and sessions being finished, by session id (this process).
        self._guard = threading.Lock()
        self._receiving: dict[str, list[Range]] = {}
        self._finishing: set[str] = set()

    def staging_file(self, session_id: str) -> Path:
        return self.staging_dir / session_id

    @staticmethod
    def not_found(session_id: str) -> NotFound:
        return NotFound(
            f"upload session {session_id!r} not found: it finished, was aborted or expired; "
            "start a new one"
        )

    def clean_expired(self) -> int:
        """Remove expired sessions and their staging files; returns how many."""
        ids = self.store.delete_expired(self._clock())
        for session_id in ids:
            self.staging_file(session_id).unlink(missing_ok=True)
        return len(ids)

    def start(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        *,
        path: str,
        size: int,
        sha256: str | None = None,
        mime_type: str | None = None,
        file_type: FileType | str | None = None,
    ) -> UploadSession:
        self.clean_expired()
        target = self.service.file_target(actor, namespace, model_name, ref, write=True)
        file_path, mime, kind = self.service.file_fields(path, mime_type, file_type)
        if not 0 <= size <= MAX_FILE_SIZE:
            raise InvalidArgument("size: expected a byte count from 0 to 2**63-1", field="size")
        now = self._clock()
        session = UploadSession(
            id=new_id(),
            parent_id=target.parent_id,
            user_id=actor.id,
            path=file_path,
            size=size,
            sha256=Digest.parse(sha256, "sha256") if sha256 else None,
            mime_type=mime,
            file_type=kind,
            received=(),
            created_at=now,
            expires_at=now + self.ttl,
        )
        staging = self.staging_file(session.id)
        with staging.open("xb") as f:
            f.truncate(size)  # sparse: disk fills as chunks arrive
        try:
            self.store.create(session)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        return session

    def _session(
        self, actor: User, namespace: str, model_name: str, ref: str | None, session_id: str
    ) -> tuple[FileTarget, UploadSession]:
        target = self.service.file_target(actor, namespace, model_name, ref, write=True)
        session = self.store.get(session_id) if len(session_id) <= 64 else None
        if (
            session is None
            or session.parent_id != target.parent_id
            or session.user_id != actor.id
            or session.expires_at <= self._clock()
        ):
            raise self.not_found(session_id)
        return target, session

    def get(
        self, actor: User, namespace: str, model_name: str, ref: str | None, session_id: str
    ) -> UploadSession:
        return self._session(actor, namespace, model_name, ref, session_id)[1]

    def list_open(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        *,
        path: str | None = None,
    ) -> list[UploadSession]:
        """The caller's open sessions for the target (for the file ``path``, when given), so a
        new process can resume an upload that another one started."""
        target = self.service.file_target(actor, namespace, model_name, ref, write=True)
        file_path = FilePath.parse(path, "path") if path is not None else None
        return self.store.list_open(target.parent_id, actor.id, self._clock(), file_path)

    def begin_chunk(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        session_id: str,
        *,
        start: int,
        end: int,
        total: int | None,
    ) -> Chunk:
        """Accept the bytes ``[start, end)``; ``total`` is the size the client announces."""
        _, session = self._session(actor, namespace, model_name, ref, session_id)
        if total is not None and total != session.size:
            raise InvalidArgument(
                f"Content-Range: total size {total} differs from the session's {session.size}",
                field="Content-Range",
            )
        if not 0 <= start < end <= session.size:
            raise InvalidArgument(
                f"Content-Range: bytes {start}-{end - 1} are outside the file's "
                f"{session.size} bytes",
                field="Content-Range",
            )
        self._claim(session.id, start, end)
        try:
            return Chunk(self, session, start, end)
        except BaseException:
            self.release(session.id, (start, end))
            raise

    def _claim(self, session_id: str, start: int, end: int) -> None:
        with self._guard:
            if session_id in self._finishing:
                raise Conflict(
                    f"upload session {session_id!r} is being finished; its bytes are complete"
                )
            for a, b in self._receiving.get(session_id, ()):
                if start < b and a < end:
                    raise Conflict(
                        f"Content-Range: bytes {a}-{b - 1} are being received by another "
                        "request; send other ranges, or these once it has ended",
                        field="Content-Range",
                    )
            self._receiving.setdefault(session_id, []).append((start, end))

    def release(self, session_id: str, claimed: Range) -> None:
        """A chunk of ``claimed`` bytes has ended (stored or not)."""
        with self._guard:
            ranges = self._receiving.get(session_id, [])
            ranges.remove(claimed)
            if not ranges:
                self._receiving.pop(session_id, None)

    def finish(
        self, actor: User, namespace: str, model_name: str, ref: str | None, session_id: str
    ) -> FileEntry:
        """Check that every byte arrived, then commit the staged file as the target's file
        (verified against the declared size and SHA-256). A hash mismatch discards the
        session; missing bytes keep it open."""
        target, session = self._complete(actor, namespace, model_name, ref, session_id)
        path, mime, kind = self.service.file_fields(
            session.path, session.mime_type, session.file_type
        )
        with self._finishing_session(session):
            try:
                # The staged file becomes the blob (moved, not copied, on the local store).
                blob = self.service.blobs.adopt(
                    self.staging_file(session.id),
                    expected_sha256=session.sha256,
                    expected_size=session.size,
                )
            except IntegrityError:
                self._discard(session.id)
                raise
            entry = self.service.record_blob(target, path, blob, mime_type=mime, file_type=kind)
            self._discard(session.id)
            return entry

    def finish_archive(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str | None,
        session_id: str,
        unpack: Callable[[BinaryIO], T],
    ) -> T:
        """Finish a session whose file is an archive (a zip bundle) by handing the staged
        bytes to ``unpack`` (e.g. :meth:`Bundles.upload`, whose members become the files)
        instead of storing the file itself. The staged bytes' SHA-256 is checked first,
        streaming; a mismatch, or ``unpack`` refusing them, discards the session (missing
        bytes keep it open)."""
        _, session = self._complete(actor, namespace, model_name, ref, session_id)
        with self._finishing_session(session):
            try:
                staged = self.staging_file(session.id)
                if session.sha256 is not None:
                    with staged.open("rb") as f:
                        got = hashlib.file_digest(f, "sha256").hexdigest()
                    if got != session.sha256:
                        raise IntegrityError(
                            f"sha256: the {session.size} bytes received hash to {got}, "
                            f"expected {session.sha256}; nothing was stored",
                            field="sha256",
                        )
                with staged.open("rb") as archive:
                    return unpack(archive)
            finally:
                self._discard(session.id)

    def _complete(
        self, actor: User, namespace: str, model_name: str, ref: str | None, session_id: str
    ) -> tuple[FileTarget, UploadSession]:
        """The target and session, once every byte of the session arrived."""
        target, session = self._session(actor, namespace, model_name, ref, session_id)
        if not session.complete:
            gaps = ", ".join(f"{a}-{b - 1}" for a, b in session.missing()[:5])
            raise FailedPrecondition(
                f"received: bytes {gaps} of {session.size} are missing; send them, then finish",
                field="received",
                details={"missing": [list(r) for r in session.missing()]},
            )
        return target, session

    @contextlib.contextmanager
    def _finishing_session(self, session: UploadSession) -> Iterator[None]:
        """Hold the session as being finished: no chunk arrives, no one else finishes it."""
        with self._guard:
            if session.id in self._receiving or session.id in self._finishing:
                raise Conflict(
                    f"upload session {session.id!r}: a chunk is still being received, or "
                    "another request is finishing it; finish once it has ended",
                )
            self._finishing.add(session.id)
        try:
            yield
        finally:
            with self._guard:
                self._finishing.discard(session.id)

    def abort(
        self, actor: User, namespace: str, model_name: str, ref: str | None, session_id: str
    ) -> None:
        _, session = self._session(actor, namespace, model_name, ref, session_id)
        self._discard(session.id)

    def _discard(self, session_id: str) -> None:
        self.store.delete(session_id)
        with contextlib.suppress(FileNotFoundError):
            self.staging_file(session_id).unlink()


def register_by_digest(
    service: RegistryService,
    actor: User,
    namespace: str,
    model_name: str,
    ref: str | None,
    *,
    path: str,
    sha256: str,
    size: int | None = None,
    mime_type: str | None = None,
    file_type: FileType | str | None = None,
) -> FileEntry:
    """Dedup before transfer: record the file ``path`` from a blob the store already holds.
    FileNotFound when no blob has that SHA-256 (and ``size``, when given): upload the bytes."""
    target = service.file_target(actor, namespace, model_name, ref, write=True)
    file_path, mime, kind = service.file_fields(path, mime_type, file_type)
    digest = Digest.parse(sha256, "sha256")
    if size is not None and not 0 <= size <= MAX_FILE_SIZE:
        raise InvalidArgument("size: expected a byte count from 0 to 2**63-1", field="size")
    # Only bytes of files the caller may read count: otherwise dedup would tell anyone
    # whether some private model holds a file with this hash. touch() renews the blob's age
    # so garbage collection cannot take it before the new file row exists.
    stored = None
    if service.store.blob_readable_by(digest, actor) and service.blobs.touch(digest):
        stored = service.blobs.size(digest)
    if stored is None or (size is not None and stored != size):
        raise FileNotFound(
            f"no stored file you can read has sha256 {digest}"
            + (f" and size {size}" if size is not None else "")
            + "; upload the file's bytes instead"
        )
    return service.record_blob(
        target, file_path, BlobInfo(sha256=digest, size=stored), mime_type=mime, file_type=kind
    )
