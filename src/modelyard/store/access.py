"""Users' memberships, teams, namespace members, grants and tokens, in SQL.

:class:`AccessRows` is part of :class:`modelyard.store.sql.SqlMetadataStore` (its writes go
through the same single writer); :func:`visible_to` is the one SQL form of the read rule in
:mod:`modelyard.domain.access`, used by every listing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelyard.domain.access import Memberships, Role, TokenScope
from modelyard.domain.entities import Namespace, Team, TokenInfo, User
from modelyard.domain.enums import AccessLevel
from modelyard.domain.ids import new_id
from modelyard.errors import AlreadyExists, NotFound
from modelyard.store import tables as t


def now() -> datetime:
    return datetime.now(UTC)


def to_user(row: sa.Row[Any], memberships: Memberships | None = None, **extra: Any) -> User:
    return User(
        id=row.id,
        name=row.name,
        is_admin=row.is_admin,
        created_at=row.created_at,
        memberships=memberships or Memberships(),
        **extra,
    )


def visible_to(viewer: User) -> sa.ColumnElement[bool]:
    """Models ``viewer`` (not an admin) may read; see :func:`modelyard.domain.access.power`."""
    m, mine = t.models, viewer.memberships
    anyone = [m.c.access == AccessLevel.PUBLIC, m.c.owner_id == viewer.id]
    if mine.grants:
        anyone.append(m.c.id.in_(list(mine.grants)))
    admin_of = [ns for ns, role in mine.namespaces.items() if role == Role.ADMIN]
    if admin_of:
        anyone.append(m.c.namespace_id.in_(_namespace_ids(admin_of)))
    restricted = []
    if mine.namespaces:
        restricted.append(m.c.namespace_id.in_(_namespace_ids(list(mine.namespaces))))
    if mine.teams:
        restricted.append(
            sa.exists()
            .where(t.model_teams.c.model_id == m.c.id)
            .where(t.model_teams.c.team_id.in_(_team_ids(list(mine.teams))))
        )
    if restricted:
        anyone.append(sa.and_(m.c.access == AccessLevel.RESTRICTED, sa.or_(*restricted)))
    if mine.confined_to is not None:
        return sa.and_(
            m.c.namespace_id.in_(_namespace_ids(sorted(mine.confined_to))), sa.or_(*anyone)
        )
    return sa.or_(*anyone)


def _namespace_ids(names: list[str]) -> sa.Select[Any]:
    return sa.select(t.namespaces.c.id).where(t.namespaces.c.name.in_(names))


def _team_ids(names: list[str]) -> sa.Select[Any]:
    return sa.select(t.teams.c.id).where(t.teams.c.name.in_(names))


#: The names of a model's teams, comma-separated (team names hold no commas), as a column.
MODEL_TEAMS = (
    sa.select(sa.func.aggregate_strings(t.teams.c.name, ","))
    .select_from(t.model_teams.join(t.teams, t.teams.c.id == t.model_teams.c.team_id))
    .where(t.model_teams.c.model_id == t.models.c.id)
    .scalar_subquery()
    .label("team_names")
)


def team_names(value: str | None) -> tuple[str, ...]:
    return tuple(sorted(value.split(","))) if value else ()


_TOKEN_USER = (
    sa.select(t.users, t.tokens.c.expires_at, t.tokens.c.scope)
    .join(t.tokens, t.tokens.c.user_id == t.users.c.id)
    .where(t.tokens.c.token_hash == sa.bindparam("token_hash"), t.tokens.c.revoked_at.is_(None))
)


class AccessRows:
    """Mixed into the SQL metadata store."""

    read: Any
    write: Any

    def _read(self) -> AbstractContextManager[sa.Connection]:
        return self.read()

    # -- memberships -------------------------------------------------------------------------

    def user_for_token(self, token_hash: str, now: datetime) -> User | None:
        with self._read() as conn:
            row = conn.execute(_TOKEN_USER, {"token_hash": token_hash}).first()
            if row is None or (row.expires_at is not None and row.expires_at <= now):
                return None
            memberships = self._memberships(conn, row.id)
        return to_user(
            row,
            memberships,
            read_only=row.scope == TokenScope.READ,
            token_expires_at=row.expires_at,
        )

    def memberships(self, user_id: str) -> Memberships:
        with self._read() as conn:
            return self._memberships(conn, user_id)

    @staticmethod
    def _memberships(conn: sa.Connection, user_id: str) -> Memberships:
        teams = conn.execute(
            sa.select(t.teams.c.name)
            .join(t.team_members, t.team_members.c.team_id == t.teams.c.id)
            .where(t.team_members.c.user_id == user_id)
        ).scalars()
        namespaces = conn.execute(
            sa.select(t.namespaces.c.name, t.namespace_members.c.role)
            .join(t.namespace_members, t.namespace_members.c.namespace_id == t.namespaces.c.id)
            .where(t.namespace_members.c.user_id == user_id)
        ).all()
        grants = conn.execute(
            sa.select(t.model_grants.c.model_id, t.model_grants.c.role).where(
                t.model_grants.c.user_id == user_id
            )
        ).all()
        return Memberships(
            teams=frozenset(teams),
            namespaces={r.name: Role(r.role) for r in namespaces},
            grants={r.model_id: Role(r.role) for r in grants},
        )

    def _user_id(self, conn: sa.Connection, name: str, field: str = "user") -> str:
        found = conn.execute(sa.select(t.users.c.id).where(t.users.c.name == name)).scalar()
        if found is None:
            raise NotFound(f"{field}: no user named {name!r}")
        return found

    # -- tokens ------------------------------------------------------------------------------

    def add_token(
        self,
        *,
        user_id: str,
        token_hash: str,
        name: str,
        expires_at: datetime | None,
        scope: TokenScope = TokenScope.WRITE,
    ) -> str:
        token_id = new_id()
        with self.write() as conn:
            conn.execute(
                t.tokens.insert().values(
                    id=token_id,
                    user_id=user_id,
                    token_hash=token_hash,
                    name=name,
                    created_at=now(),
                    expires_at=expires_at,
                    scope=scope,
                )
            )
        return token_id

    def list_tokens(self, user: str | None) -> list[TokenInfo]:
        stmt = (
            sa.select(t.tokens, t.users.c.name.label("user_name"))
            .join(t.users, t.users.c.id == t.tokens.c.user_id)
            .order_by(t.users.c.name, t.tokens.c.created_at, t.tokens.c.id)
        )
        if user is not None:
            stmt = stmt.where(t.users.c.name == user)
        with self._read() as conn:
            return [_to_token(r) for r in conn.execute(stmt).all()]

    def get_token(self, token_id: str) -> TokenInfo | None:
        stmt = (
            sa.select(t.tokens, t.users.c.name.label("user_name"))
            .join(t.users, t.users.c.id == t.tokens.c.user_id)
            .where(t.tokens.c.id == token_id)
        )
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return _to_token(row) if row else None

    def revoke_token(self, token_id: str, at: datetime) -> str | None:
        """Revoke a token; its hash (to forget it at once), or None if it was revoked."""
        with self.write() as conn:
            row = conn.execute(
                sa.select(t.tokens.c.token_hash, t.tokens.c.revoked_at).where(
                    t.tokens.c.id == token_id
                )
            ).first()
            if row is None or row.revoked_at is not None:
                return None
            conn.execute(t.tokens.update().where(t.tokens.c.id == token_id).values(revoked_at=at))
            return row.token_hash

    # -- teams -------------------------------------------------------------------------------

    def create_team(self, *, name: str, description: str | None) -> Team:
        with self.write() as conn:
            if conn.execute(sa.select(t.teams.c.id).where(t.teams.c.name == name)).first():
                raise AlreadyExists(f"team {name!r} already exists", field="name")
            team_id = new_id()
            conn.execute(
                t.teams.insert().values(
                    id=team_id, name=name, description=description, created_at=now()
                )
            )
            return self._team(conn, name)

    def get_team(self, name: str) -> Team | None:
        with self._read() as conn:
            return self._team(conn, name)

    def list_teams(self) -> list[Team]:
        with self._read() as conn:
            names = conn.execute(sa.select(t.teams.c.name).order_by(t.teams.c.name)).scalars()
            return [team for name in list(names) if (team := self._team(conn, name))]

    @staticmethod
    def _team(conn: sa.Connection, name: str) -> Team | None:
        row = conn.execute(sa.select(t.teams).where(t.teams.c.name == name)).first()
        if row is None:
            return None
        members = conn.execute(
            sa.select(t.users.c.name)
            .join(t.team_members, t.team_members.c.user_id == t.users.c.id)
            .where(t.team_members.c.team_id == row.id)
            .order_by(t.users.c.name)
        ).scalars()
        return Team(
            id=row.id,
            name=row.name,
            description=row.description,
            members=tuple(members),
            created_at=row.created_at,
        )

    def delete_team(self, name: str) -> bool:
        with self.write() as conn:
            return conn.execute(t.teams.delete().where(t.teams.c.name == name)).rowcount > 0

    def set_team_member(self, team: str, user: str, member: bool) -> Team:
        with self.write() as conn:
            found = self._team(conn, team)
            if found is None:
                raise NotFound(f"team {team!r} not found")
            user_id = self._user_id(conn, user)
            link = t.team_members.c
            conn.execute(
                t.team_members.delete().where(link.team_id == found.id, link.user_id == user_id)
            )
            if member:
                conn.execute(t.team_members.insert().values(team_id=found.id, user_id=user_id))
            team_found = self._team(conn, team)
            assert team_found is not None
            return team_found

    def team_ids(self, names: list[str]) -> dict[str, str]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.teams.c.name, t.teams.c.id).where(t.teams.c.name.in_(names))
            ).all()
        return {r.name: r.id for r in rows}

    def set_model_teams(self, model_id: str, team_ids: list[str]) -> None:
        with self.write() as conn:
            conn.execute(t.model_teams.delete().where(t.model_teams.c.model_id == model_id))
            if team_ids:
                conn.execute(
                    t.model_teams.insert(),
                    [{"model_id": model_id, "team_id": team_id} for team_id in team_ids],
                )

    # -- namespaces --------------------------------------------------------------------------

    def get_namespace(self, name: str) -> Namespace | None:
        with self._read() as conn:
            return self._namespace(conn, name)

    @staticmethod
    def _namespace(conn: sa.Connection, name: str) -> Namespace | None:
        row = conn.execute(sa.select(t.namespaces).where(t.namespaces.c.name == name)).first()
        if row is None:
            return None
        members = conn.execute(
            sa.select(t.users.c.name, t.namespace_members.c.role)
            .join(t.namespace_members, t.namespace_members.c.user_id == t.users.c.id)
            .where(t.namespace_members.c.namespace_id == row.id)
            .order_by(t.users.c.name)
        ).all()
        return Namespace(
            id=row.id,
            name=row.name,
            created_at=row.created_at,
            open=row.open,
            members=tuple((m.name, Role(m.role)) for m in members),
        )

    def create_namespace(self, *, name: str, open: bool, admin_id: str) -> Namespace:
        with self.write() as conn:
            if conn.execute(
                sa.select(t.namespaces.c.id).where(t.namespaces.c.name == name)
            ).first():
                raise AlreadyExists(f"namespace {name!r} already exists", field="name")
            ns_id = new_id()
            conn.execute(
                t.namespaces.insert().values(id=ns_id, name=name, created_at=now(), open=open)
            )
            conn.execute(
                t.namespace_members.insert().values(
                    namespace_id=ns_id, user_id=admin_id, role=Role.ADMIN
                )
            )
            found = self._namespace(conn, name)
            assert found is not None
            return found

    def update_namespace(self, name: str, *, open: bool) -> Namespace:
        with self.write() as conn:
            conn.execute(t.namespaces.update().where(t.namespaces.c.name == name).values(open=open))
            found = self._namespace(conn, name)
        if found is None:
            raise NotFound(f"namespace {name!r} not found")
        return found

    def set_namespace_member(self, namespace: str, user: str, role: Role | None) -> Namespace:
        with self.write() as conn:
            found = self._namespace(conn, namespace)
            if found is None:
                raise NotFound(f"namespace {namespace!r} not found")
            user_id = self._user_id(conn, user)
            link = t.namespace_members.c
            conn.execute(
                t.namespace_members.delete().where(
                    link.namespace_id == found.id, link.user_id == user_id
                )
            )
            if role is not None:
                conn.execute(
                    t.namespace_members.insert().values(
                        namespace_id=found.id, user_id=user_id, role=role
                    )
                )
            updated = self._namespace(conn, namespace)
            assert updated is not None
            return updated

    # -- grants ------------------------------------------------------------------------------

    def list_grants(self, model_id: str) -> list[tuple[str, Role]]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.users.c.name, t.model_grants.c.role)
                .join(t.model_grants, t.model_grants.c.user_id == t.users.c.id)
                .where(t.model_grants.c.model_id == model_id)
                .order_by(t.users.c.name)
            ).all()
        return [(r.name, Role(r.role)) for r in rows]

    def set_grant(self, model_id: str, user: str, role: Role | None) -> bool:
        """Grant (or with None revoke) a model to a user; whether anything changed."""
        with self.write() as conn:
            user_id = self._user_id(conn, user)
            link = t.model_grants.c
            removed = conn.execute(
                t.model_grants.delete().where(link.model_id == model_id, link.user_id == user_id)
            ).rowcount
            if role is not None:
                conn.execute(
                    t.model_grants.insert().values(model_id=model_id, user_id=user_id, role=role)
                )
                return True
            return removed > 0


def _to_token(row: sa.Row[Any]) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        user=row.user_name,
        name=row.name,
        scope=TokenScope(row.scope),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
