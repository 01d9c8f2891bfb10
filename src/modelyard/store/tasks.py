"""The SQL implementation of :class:`modelyard.domain.tasks.TaskStore`.

Claiming is one write transaction: on PostgreSQL the candidate row is taken with
``SELECT ... FOR UPDATE SKIP LOCKED`` (servers sharing the database never claim the same task
and never wait on each other); on SQLite the transaction is the single writer's
``BEGIN IMMEDIATE``, which serializes claims the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from modelyard.domain.entities import Page
from modelyard.domain.tasks import NewTask, Task, TaskQuery, TaskState
from modelyard.store import tables as t
from modelyard.store.sql import SqlMetadataStore, _decode_token, _encode_token, _visible_to

_TASK_SELECT = (
    sa.select(
        t.tasks,
        t.users.c.name.label("creator_name"),
        t.models.c.name.label("model_name"),
        t.namespaces.c.name.label("namespace_name"),
        t.versions.c.label.label("version_label"),
    )
    .join(t.users, t.users.c.id == t.tasks.c.created_by_id)
    .join(t.models, t.models.c.id == t.tasks.c.model_id)
    .join(t.namespaces, t.namespaces.c.id == t.models.c.namespace_id)
    .outerjoin(t.versions, t.versions.c.id == t.tasks.c.version_id)
)


def _to_task(row: sa.Row[Any]) -> Task:
    return Task(
        id=row.id,
        kind=row.kind,
        state=row.state,
        created_by=row.creator_name,
        model_id=row.model_id,
        namespace=row.namespace_name,
        model=row.model_name,
        version_id=row.version_id,
        version=row.version_label,
        params=row.params,
        result=row.result,
        error=row.error,
        attempts=row.attempts,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
    )


class SqlTaskStore:
    """Tasks in the registry's database. Writes go through the metadata store's writer, so
    SQLite keeps one writer for the whole process."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self._store = store

    def create_task(self, task: NewTask) -> Task:
        with self._store.write() as conn:
            conn.execute(
                t.tasks.insert().values(
                    id=task.id,
                    kind=task.kind,
                    state=TaskState.CREATED,
                    created_by_id=task.created_by_id,
                    model_id=task.model_id,
                    version_id=task.version_id,
                    params=task.params,
                    attempts=0,
                    created_at=task.created_at,
                )
            )
            return _to_task(conn.execute(_TASK_SELECT.where(t.tasks.c.id == task.id)).one())

    def get_task(self, task_id: str) -> Task | None:
        with self._store.read() as conn:
            row = conn.execute(_TASK_SELECT.where(t.tasks.c.id == task_id)).first()
        return _to_task(row) if row else None

    def delete_task(self, task_id: str) -> bool:
        ended = (TaskState.COMPLETED, TaskState.FAILED)
        with self._store.write() as conn:
            deleted = conn.execute(
                t.tasks.delete().where(t.tasks.c.id == task_id, t.tasks.c.state.in_(ended))
            )
            return deleted.rowcount == 1

    def list_tasks(self, query: TaskQuery) -> Page[Task]:
        stmt = _TASK_SELECT
        if not query.viewer.is_admin:
            stmt = stmt.where(_visible_to(query.viewer))
        if query.state is not None:
            stmt = stmt.where(t.tasks.c.state == query.state)
        if query.page_token:
            (last_id,) = _decode_token(query.page_token, str)
            stmt = stmt.where(t.tasks.c.id < last_id)
        # Ids are time-ordered, so id order is creation order: newest first.
        stmt = stmt.order_by(t.tasks.c.id.desc()).limit(query.page_size + 1)
        with self._store.read() as conn:
            rows = conn.execute(stmt).all()
        items = [_to_task(r) for r in rows[: query.page_size]]
        token = _encode_token([items[-1].id]) if len(rows) > query.page_size else None
        return Page(items=items, next_page_token=token)

    def claim_task(self, owner: str, now: datetime, lease_until: datetime) -> Task | None:
        tasks = t.tasks
        candidate = (
            sa.select(tasks.c.id)
            .where(
                sa.or_(
                    tasks.c.state == TaskState.CREATED,
                    sa.and_(tasks.c.state == TaskState.RUNNING, tasks.c.lease_expires_at < now),
                )
            )
            .order_by(tasks.c.created_at, tasks.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        with self._store.write() as conn:
            task_id = conn.execute(candidate).scalar()
            if task_id is None:
                return None
            conn.execute(
                tasks.update()
                .where(tasks.c.id == task_id)
                .values(
                    state=TaskState.RUNNING,
                    lease_owner=owner,
                    lease_expires_at=lease_until,
                    attempts=tasks.c.attempts + 1,
                    started_at=sa.func.coalesce(tasks.c.started_at, now),
                )
            )
            return _to_task(conn.execute(_TASK_SELECT.where(tasks.c.id == task_id)).one())

    def _held(self, task_id: str, owner: str) -> sa.ColumnElement[bool]:
        return sa.and_(
            t.tasks.c.id == task_id,
            t.tasks.c.state == TaskState.RUNNING,
            t.tasks.c.lease_owner == owner,
        )

    def renew_lease(self, task_id: str, owner: str, lease_until: datetime) -> bool:
        with self._store.write() as conn:
            done = conn.execute(
                t.tasks.update()
                .where(self._held(task_id, owner))
                .values(lease_expires_at=lease_until)
            )
        return done.rowcount == 1

    def end_task(
        self,
        task_id: str,
        owner: str,
        *,
        state: TaskState,
        result: dict[str, Any] | None,
        error: str | None,
        now: datetime,
    ) -> bool:
        values: dict[str, Any] = {"state": state, "lease_owner": None, "lease_expires_at": None}
        if state == TaskState.CREATED:  # handed back unfinished: that attempt does not count
            values["attempts"] = t.tasks.c.attempts - 1
        else:
            values.update(result=result, error=error, finished_at=now)
        with self._store.write() as conn:
            done = conn.execute(t.tasks.update().where(self._held(task_id, owner)).values(values))
        return done.rowcount == 1
