"""The SQL implementation of :class:`modelyard.domain.webhooks.WebhookStore`: webhooks, their
deliveries, and the reads of the event stream (the audit log's successful model entries).

Writes go through the metadata store's writer (SQLite keeps one writer). On PostgreSQL,
fanning out locks the webhook row and claiming locks delivery rows with ``FOR UPDATE SKIP
LOCKED``: servers sharing the database never fan out the same webhook or claim the same
delivery at once, and never wait on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from modelyard.domain.access import Role
from modelyard.domain.audit import AuditEvent, AuditOutcome, DeliveryState
from modelyard.domain.entities import Page, User
from modelyard.domain.ids import new_id
from modelyard.domain.webhooks import Delivery, DueDelivery, NewWebhook, Webhook
from modelyard.store import tables as t
from modelyard.store.access import visible_to
from modelyard.store.audit import to_event
from modelyard.store.sql import SqlMetadataStore, _decode_token, _encode_token

_w, _d, _a = t.webhooks, t.webhook_deliveries, t.audit_events

_WEBHOOK_SELECT = (
    sa.select(
        _w,
        t.namespaces.c.name.label("namespace_name"),
        t.users.c.name.label("creator_name"),
    )
    .join(t.namespaces, t.namespaces.c.id == _w.c.namespace_id)
    .join(t.users, t.users.c.id == _w.c.created_by_id)
)

_DELIVERY_SELECT = sa.select(_d, _a.c.action).join(_a, _a.c.id == _d.c.event_id)

#: Successful entries about a model: the event stream.
_IS_EVENT = sa.and_(_a.c.outcome == AuditOutcome.SUCCESS, _a.c.model_id.is_not(None))


def _to_webhook(row: sa.Row[Any]) -> Webhook:
    return Webhook(
        id=row.id,
        namespace=row.namespace_name,
        url=row.url,
        events=tuple(row.events) if row.events is not None else None,
        active=row.active,
        cursor=row.cursor,
        created_by=row.creator_name,
        created_at=row.created_at,
    )


def _to_delivery(row: sa.Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        action=row.action,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


class SqlWebhookStore:
    """Implements :class:`modelyard.domain.webhooks.WebhookStore`."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self._store = store

    # -- webhooks ----------------------------------------------------------------------------

    def create_webhook(self, webhook: NewWebhook) -> Webhook:
        with self._store.write() as conn:
            cursor = conn.execute(sa.select(sa.func.coalesce(sa.func.max(_a.c.id), 0))).scalar()
            conn.execute(
                _w.insert().values(
                    id=webhook.id,
                    namespace_id=webhook.namespace_id,
                    url=webhook.url,
                    secret=webhook.secret,
                    events=list(webhook.events) if webhook.events is not None else None,
                    active=True,
                    cursor=int(cursor or 0),
                    created_by_id=webhook.created_by_id,
                    created_at=webhook.created_at,
                )
            )
            return _to_webhook(conn.execute(_WEBHOOK_SELECT.where(_w.c.id == webhook.id)).one())

    def count_webhooks(self, namespace_id: str) -> int:
        with self._store.read() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).where(_w.c.namespace_id == namespace_id)
            ).scalar()
        return int(count or 0)

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        with self._store.read() as conn:
            row = conn.execute(_WEBHOOK_SELECT.where(_w.c.id == webhook_id)).first()
        return _to_webhook(row) if row else None

    def list_webhooks(self, namespace_id: str) -> list[Webhook]:
        stmt = _WEBHOOK_SELECT.where(_w.c.namespace_id == namespace_id).order_by(_w.c.id)
        with self._store.read() as conn:
            return [_to_webhook(r) for r in conn.execute(stmt).all()]

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any]) -> Webhook:
        values = {k: v for k, v in changes.items() if k in ("url", "events", "active")}
        if "events" in values and values["events"] is not None:
            values["events"] = list(values["events"])
        with self._store.write() as conn:
            if values:
                conn.execute(_w.update().where(_w.c.id == webhook_id).values(**values))
            return _to_webhook(conn.execute(_WEBHOOK_SELECT.where(_w.c.id == webhook_id)).one())

    def delete_webhook(self, webhook_id: str) -> bool:
        with self._store.write() as conn:
            # Deliveries go first: SQLite enforces ON DELETE CASCADE only with foreign keys on.
            conn.execute(_d.delete().where(_d.c.webhook_id == webhook_id))
            done = conn.execute(_w.delete().where(_w.c.id == webhook_id))
        return done.rowcount == 1

    def list_deliveries(
        self, webhook_id: str, *, page_size: int, page_token: str | None
    ) -> Page[Delivery]:
        stmt = _DELIVERY_SELECT.where(_d.c.webhook_id == webhook_id)
        if page_token:
            (before,) = _decode_token(page_token, int)
            stmt = stmt.where(_d.c.event_id < before)
        stmt = stmt.order_by(_d.c.event_id.desc()).limit(page_size + 1)
        with self._store.read() as conn:
            rows = conn.execute(stmt).all()
        items = [_to_delivery(r) for r in rows[:page_size]]
        token = _encode_token([items[-1].event_id]) if len(rows) > page_size else None
        return Page(items=items, next_page_token=token)

    # -- the stream --------------------------------------------------------------------------

    def event_ids_after(self, after: int, limit: int) -> list[tuple[int, datetime]]:
        stmt = sa.select(_a.c.id, _a.c.at).where(_a.c.id > after).order_by(_a.c.id).limit(limit)
        with self._store.read() as conn:
            return [(int(r.id), r.at) for r in conn.execute(stmt).all()]

    def max_event_id(self) -> int:
        with self._store.read() as conn:
            found = conn.execute(sa.select(sa.func.max(_a.c.id))).scalar()
        return int(found or 0)

    def events_after(
        self, viewer: User, *, after: int, until: int, namespace: str | None, limit: int
    ) -> list[AuditEvent]:
        stmt = sa.select(_a).where(_a.c.id > after, _a.c.id <= until, _IS_EVENT)
        if namespace is not None:
            stmt = stmt.where(_a.c.namespace == namespace)
        if not viewer.is_admin:
            admin_of = [
                ns for ns, role in viewer.memberships.namespaces.items() if role == Role.ADMIN
            ]
            readable = sa.and_(t.models.c.id.is_not(None), visible_to(viewer))
            allowed = sa.or_(readable, _a.c.namespace.in_(admin_of)) if admin_of else readable
            stmt = stmt.outerjoin(t.models, t.models.c.id == _a.c.model_id).where(allowed)
        stmt = stmt.order_by(_a.c.id).limit(limit)
        with self._store.read() as conn:
            return [to_event(r) for r in conn.execute(stmt).all()]

    def model_readable(self, viewer: User, model_id: str) -> bool:
        stmt = sa.select(t.models.c.id).where(t.models.c.id == model_id)
        if not viewer.is_admin:
            stmt = stmt.where(visible_to(viewer))
        with self._store.read() as conn:
            return conn.execute(stmt).first() is not None

    # -- the dispatcher ----------------------------------------------------------------------

    def min_active_cursor(self) -> int | None:
        with self._store.read() as conn:
            found = conn.execute(sa.select(sa.func.min(_w.c.cursor)).where(_w.c.active)).scalar()
        return int(found) if found is not None else None

    def fan_out(
        self,
        *,
        until: int,
        now: datetime,
        limit: int,
        wanted: Callable[[tuple[str, ...] | None, str], bool],
    ) -> int:
        with self._store.read() as conn:
            behind = (
                conn.execute(sa.select(_w.c.id).where(_w.c.active, _w.c.cursor < until))
                .scalars()
                .all()
            )
        made = 0
        for webhook_id in behind:
            with self._store.write() as conn:
                made += self._fan_out_one(conn, webhook_id, until, now, limit, wanted)
        return made

    @staticmethod
    def _fan_out_one(
        conn: sa.Connection,
        webhook_id: str,
        until: int,
        now: datetime,
        limit: int,
        wanted: Callable[[tuple[str, ...] | None, str], bool],
    ) -> int:
        # The cursor is read again under the row lock: what another server did counts.
        webhook = conn.execute(
            sa.select(_w.c.cursor, _w.c.events, t.namespaces.c.name)
            .join(t.namespaces, t.namespaces.c.id == _w.c.namespace_id)
            .where(_w.c.id == webhook_id, _w.c.active, _w.c.cursor < until)
            .with_for_update(of=_w, skip_locked=True)
        ).first()
        if webhook is None:
            return 0
        events = conn.execute(
            sa.select(_a.c.id, _a.c.action)
            .where(
                _a.c.id > webhook.cursor,
                _a.c.id <= until,
                _a.c.namespace == webhook.name,
                _IS_EVENT,
            )
            .order_by(_a.c.id)
            .limit(limit)
        ).all()
        filters = tuple(webhook.events) if webhook.events is not None else None
        rows = [
            {
                "id": new_id(),
                "webhook_id": webhook_id,
                "event_id": e.id,
                "state": DeliveryState.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for e in events
            if wanted(filters, e.action)
        ]
        if rows:
            conn.execute(_d.insert(), rows)
        cursor = events[-1].id if len(events) >= limit else until
        conn.execute(_w.update().where(_w.c.id == webhook_id).values(cursor=cursor))
        return len(rows)

    def claim_deliveries(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[DueDelivery]:
        earlier = _d.alias("earlier")
        is_head = ~sa.exists().where(
            earlier.c.webhook_id == _d.c.webhook_id,
            earlier.c.state == DeliveryState.PENDING,
            earlier.c.event_id < _d.c.event_id,
        )
        candidates = (
            sa.select(_d.c.id)
            .join(_w, _w.c.id == _d.c.webhook_id)
            .where(
                _d.c.state == DeliveryState.PENDING,
                _d.c.next_attempt_at <= now,
                sa.or_(_d.c.lease_expires_at.is_(None), _d.c.lease_expires_at < now),
                _w.c.active,
                is_head,
            )
            .order_by(_d.c.next_attempt_at, _d.c.event_id)
            .limit(limit)
            .with_for_update(of=_d, skip_locked=True)
        )
        with self._store.write() as conn:
            ids = list(conn.execute(candidates).scalars())
            if not ids:
                return []
            conn.execute(
                _d.update()
                .where(_d.c.id.in_(ids))
                .values(lease_owner=owner, lease_expires_at=lease_until)
            )
            rows = conn.execute(
                sa.select(
                    _d.c.id.label("delivery_id"),
                    _d.c.attempts.label("delivery_attempts"),
                    _w.c.id.label("webhook_id"),
                    _w.c.url,
                    _w.c.secret,
                    _w.c.events,
                    _w.c.active,
                    _w.c.cursor,
                    _w.c.created_at.label("webhook_created_at"),
                    t.namespaces.c.name.label("namespace_name"),
                    t.users.c.id.label("user_id"),
                    t.users.c.name.label("user_name"),
                    t.users.c.is_admin,
                    t.users.c.created_at.label("user_created_at"),
                    *[c.label(f"event_{c.name}") for c in _a.c],
                )
                .select_from(_d)
                .join(_w, _w.c.id == _d.c.webhook_id)
                .join(t.namespaces, t.namespaces.c.id == _w.c.namespace_id)
                .join(t.users, t.users.c.id == _w.c.created_by_id)
                .join(_a, _a.c.id == _d.c.event_id)
                .where(_d.c.id.in_(ids))
                .order_by(_d.c.next_attempt_at, _d.c.event_id)
            ).all()
        return [_to_due(r) for r in rows]

    def end_attempt(
        self,
        delivery_id: str,
        owner: str,
        *,
        state: DeliveryState,
        attempts: int,
        next_attempt_at: datetime,
        last_status: int | None,
        last_error: str | None,
        now: datetime,
    ) -> bool:
        with self._store.write() as conn:
            done = conn.execute(
                _d.update()
                .where(
                    _d.c.id == delivery_id,
                    _d.c.lease_owner == owner,
                    _d.c.state == DeliveryState.PENDING,
                )
                .values(
                    state=state,
                    attempts=attempts,
                    next_attempt_at=next_attempt_at,
                    last_status=last_status,
                    last_error=last_error,
                    delivered_at=now if state == DeliveryState.DELIVERED else None,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
        return done.rowcount == 1


def _to_due(row: sa.Row[Any]) -> DueDelivery:
    mapping = row._mapping
    event = SimpleNamespace(**{c.name: mapping[f"event_{c.name}"] for c in _a.c})
    return DueDelivery(
        id=row.delivery_id,
        attempts=row.delivery_attempts,
        webhook=Webhook(
            id=row.webhook_id,
            namespace=row.namespace_name,
            url=row.url,
            events=tuple(row.events) if row.events is not None else None,
            active=row.active,
            cursor=row.cursor,
            created_by=row.user_name,
            created_at=row.webhook_created_at,
        ),
        secret=row.secret,
        creator=User(
            id=row.user_id,
            name=row.user_name,
            is_admin=row.is_admin,
            created_at=row.user_created_at,
        ),
        event=to_event(event),  # type: ignore[arg-type]  # the same attributes as a row
    )
