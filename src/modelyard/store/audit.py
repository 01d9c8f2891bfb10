"""The audit log in SQL: appended through the store's single writer, listed newest first.

There is no update or delete here: the log is append-only for everything in modelyard.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from modelyard.domain.audit import AuditEntry, AuditEvent, AuditQuery
from modelyard.domain.entities import Page
from modelyard.store import tables as t
from modelyard.store.sql import SqlMetadataStore, _decode_token, _encode_token

_COLUMNS = [f.name for f in dataclasses.fields(AuditEntry)]


def to_event(row: sa.Row[Any]) -> AuditEvent:
    return AuditEvent(id=row.id, **{name: getattr(row, name) for name in _COLUMNS})


class SqlAuditStore:
    """Implements :class:`modelyard.domain.audit.AuditStore`."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self._store = store

    def append_audit(self, entry: AuditEntry) -> int:
        values = {name: getattr(entry, name) for name in _COLUMNS}
        with self._store.write() as conn:
            result = conn.execute(t.audit_events.insert().values(**values))
            (event_id,) = result.inserted_primary_key or (None,)
        assert event_id is not None
        return int(event_id)

    def list_audit(self, query: AuditQuery) -> Page[AuditEvent]:
        a = t.audit_events.c
        stmt = sa.select(t.audit_events)
        for column, value in (
            (a.actor, query.actor),
            (a.outcome, query.outcome),
            (a.namespace, query.namespace),
            (a.model, query.model),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.action is not None:
            # "model." matches every model action; "model.create" just that one
            if query.action.endswith("."):
                stmt = stmt.where(a.action.startswith(query.action, autoescape=True))
            else:
                stmt = stmt.where(a.action == query.action)
        if query.since is not None:
            stmt = stmt.where(a.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(a.at < query.until)
        if query.after_id is not None:
            stmt = stmt.where(a.id > query.after_id)
        if query.page_token:
            (before,) = _decode_token(query.page_token, int)
            stmt = stmt.where(a.id < before)
        stmt = stmt.order_by(a.id.desc()).limit(query.page_size + 1)
        with self._store.read() as conn:
            rows = conn.execute(stmt).all()
        items = [to_event(r) for r in rows[: query.page_size]]
        token = _encode_token([items[-1].id]) if len(rows) > query.page_size else None
        return Page(items=items, next_page_token=token)
