"""The SQL implementation of :class:`modelyard.domain.uploads.UploadSessionStore`.

Writes are transactions of their own (``BEGIN IMMEDIATE`` on SQLite, a row lock on
PostgreSQL), so concurrent chunks of one session merge their ranges without losing any.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from modelyard.domain.enums import FileType
from modelyard.domain.uploads import Range, UploadSession
from modelyard.store import tables as t

_T = t.upload_sessions


def _to_session(row: sa.Row[Any]) -> UploadSession:
    return UploadSession(
        id=row.id,
        parent_id=row.parent_id,
        user_id=row.user_id,
        path=row.path,
        size=row.size,
        sha256=row.sha256,
        mime_type=row.mime_type,
        file_type=FileType(row.file_type),
        received=tuple((int(a), int(b)) for a, b in row.received),
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class SqlUploadSessionStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._write_lock, self.engine.connect() as conn:
            conn.execution_options(modelyard_write=True)
            with conn.begin():
                yield conn

    def create(self, session: UploadSession) -> None:
        with self._write() as conn:
            conn.execute(
                _T.insert().values(
                    id=session.id,
                    parent_id=session.parent_id,
                    user_id=session.user_id,
                    path=session.path,
                    size=session.size,
                    sha256=session.sha256,
                    mime_type=session.mime_type,
                    file_type=str(session.file_type),
                    received=[list(r) for r in session.received],
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                )
            )

    def get(self, session_id: str) -> UploadSession | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_T).where(_T.c.id == session_id)).first()
        return _to_session(row) if row else None

    def update_received(
        self, session_id: str, merge: Callable[[tuple[Range, ...]], tuple[Range, ...]]
    ) -> UploadSession | None:
        with self._write() as conn:
            row = conn.execute(sa.select(_T).where(_T.c.id == session_id).with_for_update()).first()
            if row is None:
                return None
            session = _to_session(row)
            received = merge(session.received)
            conn.execute(
                _T.update()
                .where(_T.c.id == session_id)
                .values(received=[list(r) for r in received])
            )
        return dataclasses.replace(session, received=received)

    def delete(self, session_id: str) -> None:
        with self._write() as conn:
            conn.execute(_T.delete().where(_T.c.id == session_id))

    def delete_expired(self, now: datetime) -> list[str]:
        with self._write() as conn:
            ids = list(conn.scalars(sa.select(_T.c.id).where(_T.c.expires_at <= now)))
            if ids:
                conn.execute(_T.delete().where(_T.c.id.in_(ids)))
        return ids
