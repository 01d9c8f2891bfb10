"""The SQL implementation of :class:`modelyard.domain.deployments.DeploymentStore`.

Writes go through the metadata store's writer (one writer on SQLite). A name belongs to one
live deployment at a time: a partial unique index says so, so two servers racing to deploy
under the same name cannot both win.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelyard.domain.deployments import (
    LIVE,
    Deployment,
    DeploymentSettings,
    DeploymentState,
    DeploymentStore,
    NewDeployment,
    name_taken,
)
from modelyard.domain.entities import Page, User
from modelyard.store import tables as t
from modelyard.store.access import MODEL_TEAMS, team_names
from modelyard.store.sql import SqlMetadataStore, _decode_token, _encode_token, _visible_to

_owners = t.users.alias("owners")
_creators = t.users.alias("creators")

_SELECT = (
    sa.select(
        t.deployments,
        t.models.c.name.label("model_name"),
        t.models.c.access.label("model_access"),
        MODEL_TEAMS,
        t.namespaces.c.name.label("namespace_name"),
        _owners.c.name.label("owner_name"),
        _creators.c.name.label("creator_name"),
        t.versions.c.label.label("version_label"),
        t.versions.c.number.label("version_number"),
    )
    .join(t.models, t.models.c.id == t.deployments.c.model_id)
    .join(t.namespaces, t.namespaces.c.id == t.models.c.namespace_id)
    .join(_owners, _owners.c.id == t.models.c.owner_id)
    .join(_creators, _creators.c.id == t.deployments.c.created_by_id)
    .join(t.versions, t.versions.c.id == t.deployments.c.version_id)
)

_CHANGEABLE = {"state", "status_message", "settings", "task_id", "last_used_at"}


def _to_deployment(row: sa.Row[Any]) -> Deployment:
    return Deployment(
        id=row.id,
        name=row.name,
        model_id=row.model_id,
        namespace=row.namespace_name,
        model=row.model_name,
        model_owner=row.owner_name,
        model_access=row.model_access,
        model_teams=team_names(row.team_names),
        version_id=row.version_id,
        version=row.version_label,
        version_number=row.version_number,
        backend=row.backend,
        settings=DeploymentSettings.model_validate(row.settings),
        forced=row.forced,
        state=row.state,
        status_message=row.status_message,
        task_id=row.task_id,
        created_by=row.creator_name,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_used_at=row.last_used_at,
    )


class SqlDeploymentStore(DeploymentStore):
    def __init__(self, store: SqlMetadataStore) -> None:
        self._store = store

    def _one(self, conn: sa.Connection, deployment_id: str) -> Deployment | None:
        row = conn.execute(_SELECT.where(t.deployments.c.id == deployment_id)).first()
        return _to_deployment(row) if row else None

    def create_deployment(self, deployment: NewDeployment) -> Deployment:
        d = t.deployments
        with self._store.write() as conn:
            taken = conn.execute(
                sa.select(d.c.id).where(d.c.name == deployment.name, d.c.state.in_(LIVE))
            ).first()
            if taken:
                raise name_taken(deployment.name)
            try:
                with conn.begin_nested():
                    conn.execute(
                        d.insert().values(
                            id=deployment.id,
                            name=deployment.name,
                            model_id=deployment.model_id,
                            version_id=deployment.version_id,
                            backend=deployment.backend,
                            settings=deployment.settings.model_dump(mode="json"),
                            forced=deployment.forced,
                            state=DeploymentState.PENDING,
                            created_by_id=deployment.created_by_id,
                            created_at=deployment.created_at,
                            updated_at=deployment.created_at,
                        )
                    )
            except sa.exc.IntegrityError:  # another server took the name a moment ago
                raise name_taken(deployment.name) from None
            created = self._one(conn, deployment.id)
        assert created is not None
        return created

    def get_deployment(self, deployment_id: str) -> Deployment | None:
        with self._store.read() as conn:
            return self._one(conn, deployment_id)

    def find_deployment(self, name: str) -> Deployment | None:
        d = t.deployments
        live_first = sa.case((d.c.state.in_(LIVE), 0), else_=1)
        stmt = _SELECT.where(d.c.name == name).order_by(live_first, d.c.id.desc()).limit(1)
        with self._store.read() as conn:
            row = conn.execute(stmt).first()
        return _to_deployment(row) if row else None

    def list_deployments(
        self,
        viewer: User | None,
        *,
        version_id: str | None = None,
        model_id: str | None = None,
        states: tuple[DeploymentState, ...] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Deployment]:
        d = t.deployments
        stmt = _SELECT
        if viewer is not None and not viewer.is_admin:
            stmt = stmt.where(_visible_to(viewer))
        if version_id is not None:
            stmt = stmt.where(d.c.version_id == version_id)
        if model_id is not None:
            stmt = stmt.where(d.c.model_id == model_id)
        if states is not None:
            stmt = stmt.where(d.c.state.in_(states))
        if page_token:
            (last_id,) = _decode_token(page_token, str)
            stmt = stmt.where(d.c.id < last_id)
        stmt = stmt.order_by(d.c.id.desc()).limit(page_size + 1)
        with self._store.read() as conn:
            rows = conn.execute(stmt).all()
        items = [_to_deployment(r) for r in rows[:page_size]]
        token = _encode_token([items[-1].id]) if len(rows) > page_size else None
        return Page(items=items, next_page_token=token)

    def update_deployment(
        self,
        deployment_id: str,
        changes: Mapping[str, Any],
        *,
        only_in: tuple[DeploymentState, ...] | None = None,
    ) -> Deployment | None:
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"deployments cannot change {sorted(unknown)}")
        values = dict(changes)
        if isinstance(values.get("settings"), DeploymentSettings):
            values["settings"] = values["settings"].model_dump(mode="json")
        if set(values) != {"last_used_at"}:  # a prediction's time is not a change
            values["updated_at"] = datetime.now(UTC)
        d = t.deployments
        cond = d.c.id == deployment_id
        if only_in is not None:
            cond = sa.and_(cond, d.c.state.in_(only_in))
        with self._store.write() as conn:
            if conn.execute(d.update().where(cond).values(values)).rowcount != 1:
                return None
            return self._one(conn, deployment_id)
