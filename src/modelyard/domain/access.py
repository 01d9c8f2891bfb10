"""Who may do what to a model: the one access rule every surface goes through.

A model's access level decides who may *read* it (and everything under it: versions, files,
metrics, tags, deployments, tasks, predictions):

- ``private``: its owner, admins, admins of its namespace, and users it is granted to;
- ``restricted``: those, plus members of the teams it lists and members of its namespace;
- ``public``: every authenticated user.

Beyond reading, an action needs a role on the model (:func:`role_on`):

====================  =========================================================
action                who
====================  =========================================================
read                  anyone the access level lets read (above)
write                 versions, files, metadata, metrics, tags: writers (a writer
                      grant, or a namespace writer who can read the model)
deploy                deploy, scale, undeploy: the owner, namespace admins, admins
delete                the owner, namespace admins, admins
manage                access level, teams, grants, protected tags: the same
====================  =========================================================

Anyone who may ``write`` may move a tag, except a *protected* tag, which needs ``manage``.
A read-only token never writes, deploys, deletes or manages, whatever its user may do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from modelyard.domain.enums import AccessLevel


class Role(StrEnum):
    """A namespace member's role, or what a grant gives on one model."""

    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"


class TokenScope(StrEnum):
    READ = "read"
    WRITE = "write"


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    DEPLOY = "deploy"
    DELETE = "delete"
    MANAGE = "manage"


class Power(IntEnum):
    """What a user holds on one model, in increasing order; each includes the ones below."""

    NONE = 0
    READ = 1
    WRITE = 2
    OWN = 3  # deploy, delete, manage


_NEEDS = {
    Action.READ: Power.READ,
    Action.WRITE: Power.WRITE,
    Action.DEPLOY: Power.OWN,
    Action.DELETE: Power.OWN,
    Action.MANAGE: Power.OWN,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Memberships:
    """What a user belongs to, loaded with its token: team names, namespace roles by
    namespace name, and grants by model id."""

    teams: frozenset[str] = frozenset()
    namespaces: Mapping[str, Role] = field(default_factory=dict)
    grants: Mapping[str, Role] = field(default_factory=dict)
    #: A caller confined to these namespaces (the anonymous gRPC caller) holds nothing on
    #: models elsewhere, public ones included; None: not confined.
    confined_to: frozenset[str] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Guarded:
    """What the rule needs to know about a model."""

    id: str
    namespace: str
    owner: str
    access: AccessLevel
    teams: frozenset[str]


def power(*, user: str, is_admin: bool, memberships: Memberships, model: Guarded) -> Power:
    """The most ``user`` may do on ``model`` (before its token's scope)."""
    if memberships.confined_to is not None and model.namespace not in memberships.confined_to:
        return Power.NONE
    if is_admin or model.owner == user:
        return Power.OWN
    ns_role = memberships.namespaces.get(model.namespace)
    if ns_role == Role.ADMIN:
        return Power.OWN
    grant = memberships.grants.get(model.id)
    if grant == Role.WRITER:
        return Power.WRITE
    readable = (
        grant is not None
        or model.access == AccessLevel.PUBLIC
        or (
            model.access == AccessLevel.RESTRICTED
            and (ns_role is not None or bool(model.teams & memberships.teams))
        )
    )
    if not readable:
        return Power.NONE
    return Power.WRITE if ns_role == Role.WRITER else Power.READ


def permits(held: Power, action: Action, *, read_only: bool = False) -> bool:
    if read_only and action != Action.READ:
        return False
    return held >= _NEEDS[action]


__all__ = ["Action", "Guarded", "Memberships", "Power", "Role", "TokenScope", "permits", "power"]
