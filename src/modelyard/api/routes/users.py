"""/api/v1/me, users and tokens."""

from __future__ import annotations

from fastapi import APIRouter

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/me", response_model=s.MeOut)
async def whoami(caller: CallerDep) -> s.MeOut:
    """You, your teams, your namespace roles and your token's scope."""
    return s.MeOut.from_caller(caller.user)


@router.post("/users", status_code=201, response_model=s.UserOut)
async def create_user(body: s.UserCreate, caller: CallerDep) -> s.UserOut:
    """Admins only."""
    user = await caller(caller.service.create_user, name=body.name, is_admin=body.is_admin)
    return s.UserOut.from_entity(user)


@router.get("/users", response_model=s.UserList)
async def list_users(caller: CallerDep) -> s.UserList:
    """Admins only."""
    return s.UserList(
        users=[s.UserOut.from_entity(u) for u in await caller(caller.service.list_users)]
    )


@router.post("/tokens", status_code=201, response_model=s.TokenOut)
async def create_token(body: s.TokenCreate, caller: CallerDep) -> s.TokenOut:
    """A new API token, for you or (admins) for another user. Shown once."""
    new = await caller(
        caller.service.create_token,
        user=body.user,
        name=body.name,
        expires_at=body.expires_at,
        scope=body.scope,
    )
    return s.TokenOut(
        token=new.token,
        user=new.info.user,
        id=new.info.id,
        scope=new.info.scope,
        expires_at=new.info.expires_at,
    )


@router.get("/tokens", response_model=s.TokenList)
async def list_tokens(caller: CallerDep, user: str | None = None) -> s.TokenList:
    """Your tokens (never the secrets); admins: another user's, or ``user=*`` everyone's."""
    found = await caller(caller.service.list_tokens, user=user)
    return s.TokenList(tokens=[s.TokenInfoOut.from_entity(t) for t in found])


@router.delete("/tokens/{token_id}", response_model=s.TokenInfoOut)
async def revoke_token(token_id: str, caller: CallerDep) -> s.TokenInfoOut:
    """Revoke one of your tokens (admins: anyone's); it stops working at once."""
    return s.TokenInfoOut.from_entity(await caller(caller.service.revoke_token, token_id))
