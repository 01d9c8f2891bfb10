"""/api/v1 teams, namespaces with their members, and a model's grants."""

from __future__ import annotations

from fastapi import APIRouter

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep
from modelyard.domain.access import Role

router = APIRouter(prefix="/api/v1", tags=["access"])

TEAM = "/teams/{team}"
NAMESPACE = "/namespaces/{namespace}"
GRANTS = "/models/{namespace}/{model}/grants"


# -- teams ----------------------------------------------------------------------------------


@router.post("/teams", status_code=201, response_model=s.TeamOut)
async def create_team(body: s.TeamCreate, caller: CallerDep) -> s.TeamOut:
    """(Admins) a new team; restricted models list teams."""
    team = await caller(caller.service.create_team, name=body.name, description=body.description)
    return s.TeamOut.from_entity(team)


@router.get("/teams", response_model=s.TeamList)
async def list_teams(caller: CallerDep) -> s.TeamList:
    """Admins: every team; others: the teams they are in."""
    return s.TeamList(
        teams=[s.TeamOut.from_entity(t) for t in await caller(caller.service.list_teams)]
    )


@router.get(TEAM, response_model=s.TeamOut)
async def get_team(team: str, caller: CallerDep) -> s.TeamOut:
    return s.TeamOut.from_entity(await caller(caller.service.get_team, team))


@router.delete(TEAM, status_code=204)
async def delete_team(team: str, caller: CallerDep) -> None:
    """(Admins) models that listed it no longer do."""
    await caller(caller.service.delete_team, team)


@router.put(TEAM + "/members/{user}", response_model=s.TeamOut)
async def add_team_member(team: str, user: str, caller: CallerDep) -> s.TeamOut:
    """(Admins)"""
    return s.TeamOut.from_entity(
        await caller(caller.service.set_team_member, team, user, member=True)
    )


@router.delete(TEAM + "/members/{user}", response_model=s.TeamOut)
async def remove_team_member(team: str, user: str, caller: CallerDep) -> s.TeamOut:
    """(Admins)"""
    return s.TeamOut.from_entity(
        await caller(caller.service.set_team_member, team, user, member=False)
    )


# -- namespaces -----------------------------------------------------------------------------


def _namespace_out(caller: CallerDep, namespace: s.e.Namespace) -> s.NamespaceOut:
    manages = caller.user.is_admin or (
        caller.user.memberships.namespaces.get(namespace.name) == Role.ADMIN
    )
    return s.NamespaceOut.from_entity(namespace, members=manages)


@router.get("/namespaces", response_model=s.NamespaceList)
async def list_namespaces(caller: CallerDep) -> s.NamespaceList:
    """Namespaces you are a member of or can read a model in (admins: all)."""
    found = await caller(caller.service.list_namespaces)
    return s.NamespaceList(namespaces=[s.NamespaceOut.from_entity(n) for n in found])


@router.post("/namespaces", status_code=201, response_model=s.NamespaceOut)
async def create_namespace(body: s.NamespaceCreate, caller: CallerDep) -> s.NamespaceOut:
    """A new namespace; you become its admin. Closed unless ``open``."""
    created = await caller(caller.service.create_namespace, name=body.name, open=body.open)
    return s.NamespaceOut.from_entity(created, members=True)


@router.get(NAMESPACE, response_model=s.NamespaceOut)
async def get_namespace(namespace: str, caller: CallerDep) -> s.NamespaceOut:
    """Its members are listed to its admins and to admins."""
    return _namespace_out(caller, await caller(caller.service.get_namespace, namespace))


@router.patch(NAMESPACE, response_model=s.NamespaceOut)
async def update_namespace(
    namespace: str, body: s.NamespaceUpdate, caller: CallerDep
) -> s.NamespaceOut:
    """(Namespace admins) open or close it."""
    updated = await caller(caller.service.update_namespace, namespace, open=body.open)
    return s.NamespaceOut.from_entity(updated, members=True)


@router.put(NAMESPACE + "/members/{user}", response_model=s.NamespaceOut)
async def set_namespace_member(
    namespace: str, user: str, body: s.RoleSet, caller: CallerDep
) -> s.NamespaceOut:
    """(Namespace admins) give a user the role reader, writer or admin."""
    updated = await caller(caller.service.set_namespace_member, namespace, user, body.role)
    return s.NamespaceOut.from_entity(updated, members=True)


@router.delete(NAMESPACE + "/members/{user}", response_model=s.NamespaceOut)
async def remove_namespace_member(namespace: str, user: str, caller: CallerDep) -> s.NamespaceOut:
    """(Namespace admins)"""
    updated = await caller(caller.service.set_namespace_member, namespace, user, None)
    return s.NamespaceOut.from_entity(updated, members=True)


# -- grants ---------------------------------------------------------------------------------


@router.get(GRANTS, response_model=s.GrantList)
async def list_grants(namespace: str, model: str, caller: CallerDep) -> s.GrantList:
    """(Whoever manages the model) the users it is granted to."""
    return s.GrantList.of(await caller(caller.service.list_grants, namespace, model))


@router.put(GRANTS + "/{user}", response_model=s.GrantList)
async def set_grant(
    namespace: str, model: str, user: str, body: s.RoleSet, caller: CallerDep
) -> s.GrantList:
    """Grant the model to a user as ``reader`` or ``writer`` (even a private model)."""
    return s.GrantList.of(await caller(caller.service.set_grant, namespace, model, user, body.role))


@router.delete(GRANTS + "/{user}", response_model=s.GrantList)
async def revoke_grant(namespace: str, model: str, user: str, caller: CallerDep) -> s.GrantList:
    return s.GrantList.of(await caller(caller.service.set_grant, namespace, model, user, None))
