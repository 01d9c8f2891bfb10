"""/api/v1/me, users, tokens and namespaces."""

from __future__ import annotations

from fastapi import APIRouter

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/me", response_model=s.UserOut)
async def whoami(caller: CallerDep) -> s.UserOut:
    return s.UserOut.from_entity(caller.user)


@router.post("/users", status_code=201, response_model=s.UserOut)
async def create_user(body: s.UserCreate, caller: CallerDep) -> s.UserOut:
    """Admins only."""
    user = await caller(caller.service.create_user, name=body.name, is_admin=body.is_admin)
    return s.UserOut.from_entity(user)


@router.get("/users", response_model=s.UserList)
async def list_users(caller: CallerDep) -> s.UserList:
    return s.UserList(
        users=[s.UserOut.from_entity(u) for u in await caller(caller.service.list_users)]
    )


@router.post("/tokens", status_code=201, response_model=s.TokenOut)
async def create_token(body: s.TokenCreate, caller: CallerDep) -> s.TokenOut:
    """A new API token, for you or (admins) for another user. Shown once."""
    token = await caller(
        caller.service.create_token, user=body.user, name=body.name, expires_at=body.expires_at
    )
    return s.TokenOut(token=token, user=body.user or caller.user.name)


@router.get("/namespaces", response_model=s.NamespaceList)
async def list_namespaces(caller: CallerDep) -> s.NamespaceList:
    found = await caller(caller.service.list_namespaces)
    return s.NamespaceList(
        namespaces=[s.NamespaceOut(name=n.name, created_at=n.created_at) for n in found]
    )
