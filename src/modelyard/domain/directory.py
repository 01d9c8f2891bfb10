"""Who is who: authentication, users, tokens, teams, namespaces and their members, grants,
and the audit log's reader. Part of :class:`modelyard.domain.service.RegistryService`
(a mixin, so the service stays one object while its file stays small).

Rules:
- admins create users and teams and manage team membership;
- a namespace created explicitly is closed (only its writers and admins create models in
  it) unless made open, and its creator becomes its admin; namespaces that come into being
  with their first model are open, like ``default``;
- a namespace's admins (and admins) manage its members and whether it is open;
- a model's grants are managed by whoever may ``manage`` the model.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from modelyard.domain.access import (
    Action,
    Guarded,
    Memberships,
    Role,
    TokenScope,
    permits,
    power,
)
from modelyard.domain.audit import (
    AuditEvent,
    Auditor,
    AuditOutcome,
    AuditQuery,
    audited,
    current_request,
    note,
    touched_model,
)
from modelyard.domain.entities import Model, Namespace, Page, Team, TokenInfo, User
from modelyard.domain.ids import Name, UserName, new_token
from modelyard.domain.ports import MetadataStore
from modelyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    ModelNotFound,
    NamespaceNotFound,
    NotFound,
    PermissionDenied,
    TeamNotFound,
    TooManyRequests,
    Unauthenticated,
)

MAX_TOKEN_LIFETIME = timedelta(days=36_525)

#: How long a token the database accepted is taken as live without asking again: a prediction
#: then costs no query for its token. Revoking a token, or changing anyone's teams, namespace
#: roles or grants, forgets every remembered token on the server that made the change at once;
#: other servers sharing the database see it within this time.
TOKEN_RECHECK = timedelta(seconds=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class FailedAuthLimiter:
    """Counts failed authentications per client address in a sliding window; past the limit
    that address is refused (429) without its credentials being looked at."""

    def __init__(self, limit: int = 20, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def check(self, client: str | None) -> None:
        if client is None or self.limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            failures = self._recent(client, now)
            if len(failures) >= self.limit:
                retry = max(1, int(failures[0] + self.window - now) + 1)
                raise TooManyRequests(
                    f"too many failed authentications from {client}; try again in {retry} s",
                    retry_after=retry,
                )

    def failed(self, client: str | None) -> None:
        if client is None or self.limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:  # a flood of addresses: start over
                self._failures.clear()
            self._recent(client, now).append(now)


def _admin_only(actor: User, what: str) -> None:
    if not actor.is_admin:
        raise PermissionDenied(f"only admins may {what}")
    writable_token(actor)


def confined(actor: User, namespace: str) -> None:
    """Refuse a caller confined to other namespaces (the anonymous gRPC caller): acting in
    ``namespace`` needs credentials."""
    allowed = actor.memberships.confined_to
    if allowed is not None and namespace not in allowed:
        raise Unauthenticated(
            f"namespace {namespace} takes no calls without credentials: send "
            "'authorization: Bearer <token>'"
        )


def writable_token(actor: User) -> None:
    if actor.read_only:
        raise PermissionDenied("this token is read-only (scope 'read'); use a 'write' token")


def _role(value: Role | str | None, field: str, allowed: tuple[Role, ...]) -> Role:
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role not in allowed:
        raise InvalidArgument(
            f"{field}: expected one of {[r.value for r in allowed]}, got {value!r}", field=field
        )
    return role


@dataclass(frozen=True, kw_only=True)
class NewToken:
    """A token just made: the secret (shown once) and how it is listed."""

    token: str
    info: TokenInfo


class Directory:
    """Mixed into RegistryService; see the module docstring for the rules."""

    store: MetadataStore
    auditor: Auditor | None
    auth_limiter: FailedAuthLimiter
    _clock: Callable[[], datetime]
    _tokens: dict[str, tuple[User, datetime]]

    _model: Callable[..., Model]

    # -- authentication ----------------------------------------------------------------------

    def authenticate(self, token: str | None, user: str | None = None) -> User:
        """The user of an API token; with ``user`` (HTTP Basic: a user name and a token as
        its password) the token must be that user's."""
        client = current_request().client
        self.auth_limiter.check(client)
        if not token:
            self._auth_failed("missing credentials")
            raise Unauthenticated("missing credentials: send 'Authorization: Bearer <token>'")
        key = hash_token(token)
        now = self._clock()
        known = self._tokens.get(key)
        if (
            known is not None
            and now - known[1] < TOKEN_RECHECK
            and (known[0].token_expires_at is None or now < known[0].token_expires_at)
        ):
            found: User | None = known[0]
        else:
            found = self.store.user_for_token(key, now)
            if found is None:
                self._tokens.pop(key, None)
                self._auth_failed("invalid, expired or revoked token")
                raise Unauthenticated("invalid, expired or revoked token")
            if len(self._tokens) >= 10_000:  # many clients: start over rather than grow
                self._tokens.clear()
            self._tokens[key] = (found, now)
        if user is not None and found.name != user:
            self._auth_failed("token of another user")
            raise Unauthenticated("invalid user name or token")
        return found

    def authenticate_with(self, verify: Callable[[], User]) -> User:
        """The user that ``verify`` vouches for: a transport's own credentials (an OCI request
        signature). The failed-authentication limit applies, and an ``Unauthenticated`` it
        raises is counted and audited as a bad token is."""
        self.auth_limiter.check(current_request().client)
        try:
            return verify()
        except Unauthenticated as exc:
            self._auth_failed(exc.message)
            raise

    def _auth_failed(self, why: str) -> None:
        self.auth_limiter.failed(current_request().client)
        if self.auditor is not None:
            self.auditor.record(
                None, "auth.failed", outcome=AuditOutcome.DENIED, detail={"why": why}
            )

    def anonymous_caller(self, namespaces: Collection[str], name: str = "grpc-anonymous") -> User:
        """Who calls without credentials where a transport allows it (gRPC's
        ``grpc_anonymous_namespaces``): a user of its own, made on first use, acting as a
        writer of ``namespaces`` and holding nothing anywhere else (``confined_to``), whatever
        its stored memberships; never an admin."""
        names = frozenset(Name.parse(ns, "anonymous namespaces") for ns in namespaces)
        user = self.store.get_user(name)
        if user is None:
            try:
                user = self.store.create_user(name=UserName.parse(name, "name"), is_admin=False)
            except AlreadyExists:  # another server sharing the database made it meanwhile
                user = self.store.get_user(name)
        if user is None or user.is_admin:
            raise FailedPrecondition(
                f"user {name} is an admin: it cannot stand for callers without credentials"
            )
        roles = dict.fromkeys(sorted(names), Role.WRITER)
        return replace(
            user,
            memberships=Memberships(namespaces=roles, confined_to=names),
            read_only=False,
            token_expires_at=None,
        )

    def forget_tokens(self) -> None:
        """Drop every remembered token: memberships changed, so the next request of each
        reloads its user's."""
        self._tokens.clear()

    def bootstrap_admin(self, name: str = "admin") -> str | None:
        """Create the first admin and return a token for it, if there are no users yet."""
        if self.store.list_users():
            return None
        try:
            user = self.store.create_user(name=name, is_admin=True)
        except AlreadyExists:  # another server sharing the database got there first
            return None
        return self._issue_token(user, "bootstrap", None, TokenScope.WRITE).token

    def _issue_token(
        self, user: User, name: str, expires_at: datetime | None, scope: TokenScope
    ) -> NewToken:
        token = new_token()
        token_id = self.store.add_token(
            user_id=user.id,
            token_hash=hash_token(token),
            name=name,
            expires_at=expires_at,
            scope=scope,
        )
        info = self.store.get_token(token_id)
        assert info is not None
        return NewToken(token=token, info=info)

    # -- users and tokens --------------------------------------------------------------------

    @audited("user.create")
    def create_user(self, actor: User, *, name: str, is_admin: bool = False) -> User:
        _admin_only(actor, "create users")
        note(is_admin=is_admin)
        return self.store.create_user(name=UserName.parse(name, "name"), is_admin=is_admin)

    def list_users(self, actor: User) -> list[User]:
        if not actor.is_admin:
            raise PermissionDenied("only admins may list users")
        return self.store.list_users()

    def _user(self, name: str, field: str = "user") -> User:
        found = self.store.get_user(name) if UserName.valid(name) else None
        if found is None:
            raise InvalidArgument(f"{field}: no user named {name!r}", field=field)
        return found

    def me(self, actor: User) -> User:
        return actor

    @audited("token.create")
    def create_token(
        self,
        actor: User,
        *,
        user: str | None = None,
        name: str = "api",
        expires_at: datetime | None = None,
        scope: TokenScope | str = TokenScope.WRITE,
    ) -> NewToken:
        """A new token for the actor, or (admins only) for another user. A read-only token
        makes only read-only tokens."""
        try:
            scope = TokenScope(scope)
        except ValueError:
            raise InvalidArgument(
                f"scope: expected one of {[s.value for s in TokenScope]}, got {scope!r}",
                field="scope",
            ) from None
        if actor.read_only and scope != TokenScope.READ:
            raise PermissionDenied("a read-only token can only create read-only tokens")
        owner = actor
        if user is not None and user != actor.name:
            _admin_only(actor, "create tokens for other users")
            owner = self._user(user)
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)  # a time without a zone reads as UTC
        if expires_at is not None and not (
            self._clock() < expires_at <= self._clock() + MAX_TOKEN_LIFETIME
        ):
            raise InvalidArgument(
                "expires_at: expected a time in the future, at most 100 years ahead",
                field="expires_at",
            )
        if not name or len(name) > 128 or "\x00" in name:
            raise InvalidArgument("name: expected 1-128 characters", field="name")
        note(user=owner.name, scope=str(scope), name=name)
        return self._issue_token(owner, name, expires_at, scope)

    def list_tokens(self, actor: User, *, user: str | None = None) -> list[TokenInfo]:
        """The actor's tokens; admins: another user's, or (user '*') everyone's."""
        if user is None or user == actor.name:
            return self.store.list_tokens(actor.name)
        if not actor.is_admin:
            raise PermissionDenied("only admins may list other users' tokens")
        return self.store.list_tokens(None if user == "*" else self._user(user).name)

    @audited("token.revoke")
    def revoke_token(self, actor: User, token_id: str) -> TokenInfo:
        found = self.store.get_token(token_id) if len(token_id) <= 64 else None
        if found is None or (found.user != actor.name and not actor.is_admin):
            raise NotFound(f"token {token_id} not found; `modelyard tokens list` shows yours")
        if found.revoked_at is not None:
            raise FailedPrecondition(f"token {token_id} was revoked at {found.revoked_at}")
        if found.user != actor.name:
            _admin_only(actor, "revoke other users' tokens")
        note(user=found.user, token=found.id, name=found.name)
        token_hash = self.store.revoke_token(found.id, self._clock())
        if token_hash is not None:
            self._tokens.pop(token_hash, None)
        revoked = self.store.get_token(found.id)
        assert revoked is not None
        return revoked

    # -- teams -------------------------------------------------------------------------------

    @audited("team.create")
    def create_team(self, actor: User, *, name: str, description: str | None = None) -> Team:
        _admin_only(actor, "create teams")
        if description is not None and len(description) > 10_000:
            raise InvalidArgument("description: expected at most 10000 characters")
        return self.store.create_team(name=Name.parse(name, "name"), description=description)

    def list_teams(self, actor: User) -> list[Team]:
        """Admins: every team; others: their own."""
        teams = self.store.list_teams()
        if actor.is_admin:
            return teams
        return [team for team in teams if team.name in actor.memberships.teams]

    def get_team(self, actor: User, name: str) -> Team:
        team = self.store.get_team(name) if Name.valid(name) else None
        if team is None or not (actor.is_admin or name in actor.memberships.teams):
            raise TeamNotFound(f"team {name!r} not found")
        return team

    @audited("team.delete")
    def delete_team(self, actor: User, name: str) -> None:
        _admin_only(actor, "delete teams")
        if not (Name.valid(name) and self.store.delete_team(name)):
            raise TeamNotFound(f"team {name!r} not found")
        self.forget_tokens()

    @audited("team.member")
    def set_team_member(self, actor: User, team: str, user: str, *, member: bool) -> Team:
        _admin_only(actor, "change team members")
        if not Name.valid(team) or self.store.get_team(team) is None:
            raise TeamNotFound(f"team {team!r} not found")
        self._user(user)
        note(member=member)
        updated = self.store.set_team_member(team, user, member)
        self.forget_tokens()
        return updated

    def teams_by_name(self, names: list[str], field: str = "teams") -> list[str]:
        """The ids of teams named ``names``; a name no team has is refused."""
        for i, name in enumerate(names):
            Name.parse(name, f"{field}[{i}]")
        ids = self.store.team_ids(names)
        missing = [name for name in names if name not in ids]
        if missing:
            raise InvalidArgument(
                f"{field}: no team named {missing[0]!r}; `modelyard teams list` shows them",
                field=field,
            )
        return [ids[name] for name in names]

    # -- namespaces --------------------------------------------------------------------------

    def list_namespaces(self, actor: User) -> list[Namespace]:
        """Namespaces the actor is a member of or holds a readable model in (admins: all)."""
        return self.store.list_namespaces(actor)

    def get_namespace(self, actor: User, name: str) -> Namespace:
        found = self.store.get_namespace(name) if Name.valid(name) else None
        visible = found is not None and (
            actor.is_admin
            or name in actor.memberships.namespaces
            or any(n.name == name for n in self.store.list_namespaces(actor))
        )
        if found is None or not visible:
            raise NamespaceNotFound(f"namespace {name!r} not found")
        if not (actor.is_admin or actor.memberships.namespaces.get(name) == Role.ADMIN):
            return Namespace(
                id=found.id, name=found.name, created_at=found.created_at, open=found.open
            )
        return found

    @audited("namespace.create")
    def create_namespace(self, actor: User, *, name: str, open: bool = False) -> Namespace:
        writable_token(actor)
        note(open=open)
        created = self.store.create_namespace(
            name=Name.parse(name, "name"), open=open, admin_id=actor.id
        )
        self.forget_tokens()
        return created

    def _namespace_admin(self, actor: User, name: str) -> Namespace:
        found = self.store.get_namespace(name) if Name.valid(name) else None
        if found is None:
            raise NamespaceNotFound(f"namespace {name!r} not found")
        if not (actor.is_admin or actor.memberships.namespaces.get(name) == Role.ADMIN):
            if name in actor.memberships.namespaces or any(
                n.name == name for n in self.store.list_namespaces(actor)
            ):
                raise PermissionDenied(f"only admins of namespace {name} may change it")
            raise NamespaceNotFound(f"namespace {name!r} not found")
        writable_token(actor)
        return found

    @audited("namespace.update")
    def update_namespace(self, actor: User, name: str, *, open: bool) -> Namespace:
        self._namespace_admin(actor, name)
        note(open=open)
        return self.store.update_namespace(name, open=open)

    @audited("namespace.member")
    def set_namespace_member(
        self, actor: User, namespace: str, user: str, role: Role | str | None
    ) -> Namespace:
        """Give ``user`` a role in the namespace (None: remove them)."""
        self._namespace_admin(actor, namespace)
        self._user(user)
        checked = None if role is None else _role(role, "role", tuple(Role))
        note(user=user, role=str(checked) if checked else None)
        updated = self.store.set_namespace_member(namespace, user, checked)
        self.forget_tokens()
        return updated

    def may_create_in(self, actor: User, namespace: str) -> None:
        """Refuse a model create in a closed namespace the actor may not write to."""
        writable_token(actor)
        confined(actor, namespace)
        if actor.is_admin or actor.memberships.namespaces.get(namespace) in (
            Role.WRITER,
            Role.ADMIN,
        ):
            return  # no need to read the namespace
        found = self.store.get_namespace(namespace)
        if found is not None and not found.open:
            raise PermissionDenied(
                f"namespace {namespace} is closed: only its writers and admins create models in it"
            )

    # -- grants ------------------------------------------------------------------------------

    def list_grants(self, actor: User, namespace: str, model_name: str) -> list[tuple[str, Role]]:
        model = self._model(actor, namespace, model_name, action=Action.MANAGE)
        return self.store.list_grants(model.id)

    @audited("model.grant")
    def set_grant(
        self, actor: User, namespace: str, model_name: str, user: str, role: Role | str | None
    ) -> list[tuple[str, Role]]:
        """Grant ``model`` to ``user`` as reader or writer (None: take the grant back)."""
        model = self._model(actor, namespace, model_name, action=Action.MANAGE)
        self._user(user)
        checked = None if role is None else _role(role, "role", (Role.READER, Role.WRITER))
        note(user=user, role=str(checked) if checked else None)
        if not self.store.set_grant(model.id, user, checked) and checked is None:
            raise NotFound(f"{user} holds no grant on {namespace}/{model_name}")
        self.forget_tokens()
        return self.store.list_grants(model.id)

    # -- the audit log -----------------------------------------------------------------------

    def list_audit(self, actor: User, query: AuditQuery) -> Page[AuditEvent]:
        """(Admins) audit entries, newest first."""
        if not actor.is_admin:
            raise PermissionDenied("only admins may read the audit log")
        if not 1 <= query.page_size <= 1000:
            raise InvalidArgument(
                f"page_size: expected 1 to 1000, got {query.page_size}", field="page_size"
            )
        assert self.auditor is not None
        return self.auditor.store.list_audit(query)


def check_model(actor: User, model: Model, action: Action) -> None:
    """Raise unless ``actor`` may do ``action`` on ``model``: ModelNotFound when it may not
    even read it (a model it cannot see does not exist for it), else PermissionDenied."""
    held = power(
        user=actor.name,
        is_admin=actor.is_admin,
        memberships=actor.memberships,
        model=model.guarded,
    )
    if not permits(held, Action.READ):
        touched_model(model, hidden=True)
        raise ModelNotFound(
            f"model {model.namespace}/{model.name} not found; `modelyard models list` shows "
            "the models you can see"
        )
    touched_model(model)
    if action == Action.READ:
        return
    if actor.read_only:
        writable_token(actor)
    if not permits(held, action):
        raise PermissionDenied(_denied(model, action))


def _denied(model: Model, action: Action) -> str:
    who = {
        Action.WRITE: "writers",
        Action.DEPLOY: f"its owner ({model.owner}), namespace admins and admins",
        Action.DELETE: f"its owner ({model.owner}), namespace admins and admins",
        Action.MANAGE: f"its owner ({model.owner}), namespace admins and admins",
    }[action]
    verb = {
        Action.WRITE: "change",
        Action.DEPLOY: "deploy or undeploy",
        Action.DELETE: "delete",
        Action.MANAGE: "change the access of",
    }[action]
    return f"only {who} may {verb} {model.namespace}/{model.name}"


def can(actor: User, model: Guarded, action: Action) -> bool:
    """Whether ``actor`` may do ``action`` on the model ``model`` describes."""
    held = power(
        user=actor.name, is_admin=actor.is_admin, memberships=actor.memberships, model=model
    )
    return permits(held, action, read_only=actor.read_only)


__all__ = [
    "TOKEN_RECHECK",
    "Directory",
    "FailedAuthLimiter",
    "can",
    "check_model",
    "confined",
    "hash_token",
]
