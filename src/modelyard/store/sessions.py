"""The SQL implementation of :class:`modelyard.domain.uploads.UploadSessionStore`.

Writes go through the registry store's writer (``BEGIN IMMEDIATE`` on SQLite, a row lock on
PostgreSQL), so concurrent chunks of one session merge their ranges without losing any.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from modelyard.domain.enums import FileType
from modelyard.domain.uploads import Range, UploadSession
from modelyard.store import tables as t
from modelyard.store.sql import SqlMetadataStore

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
    """Upload sessions in the registry's database, written through its store's single
    writer."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self._store = store

    def create(self, session: UploadSession) -> None:
        with self._store.write() as conn:
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
        with self._store.read() as conn:
            row = conn.execute(sa.select(_T).where(_T.c.id == session_id)).first()
        return _to_session(row) if row else None

    def list_open(
        self, parent_id: str, user_id: str, now: datetime, path: str | None = None
    ) -> list[UploadSession]:
        query = sa.select(_T).where(
            _T.c.parent_id == parent_id, _T.c.user_id == user_id, _T.c.expires_at > now
        )
        if path is not None:
            query = query.where(_T.c.path == path)
        with self._store.read() as conn:
            rows = conn.execute(query.order_by(_T.c.created_at, _T.c.id)).all()
        return [_to_session(row) for row in rows]

    def update_received(
        self, session_id: str, merge: Callable[[tuple[Range, ...]], tuple[Range, ...]]
    ) -> UploadSession | None:
        with self._store.write() as conn:
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
        with self._store.write() as conn:
            conn.execute(_T.delete().where(_T.c.id == session_id))

    def delete_expired(self, now: datetime) -> list[str]:
        with self._store.write() as conn:
            ids = list(conn.scalars(sa.select(_T.c.id).where(_T.c.expires_at <= now)))
            if ids:
                conn.execute(_T.delete().where(_T.c.id.in_(ids)))
        return ids
