"""/api/v1/users/me/keys: the public keys that sign your requests to the OCI dialect."""

from __future__ import annotations

from fastapi import APIRouter, Request

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep
from modelyard.domain.keys import ApiKeys
from modelyard.errors import FailedPrecondition

router = APIRouter(prefix="/api/v1/users/me/keys", tags=["users"])


def get_keys(request: Request) -> ApiKeys:
    keys: ApiKeys | None = request.app.state.keys
    if keys is None:
        raise FailedPrecondition("signing keys are not enabled on this server")
    return keys


@router.post("", status_code=201, response_model=s.KeyOut)
async def add_key(body: s.KeyCreate, request: Request, caller: CallerDep) -> s.KeyOut:
    """Register an RSA public key (PEM); requests signed with its private key act as you. The
    fingerprint is computed here, as OCI computes it."""
    key = await caller(get_keys(request).register, body.public_key, body.name)
    return s.KeyOut.from_entity(key)


@router.get("", response_model=s.KeyList)
async def list_keys(request: Request, caller: CallerDep, user: str | None = None) -> s.KeyList:
    """Your keys; admins: another ``user``'s."""
    keys = await caller(get_keys(request).list_keys, user)
    return s.KeyList(keys=[s.KeyOut.from_entity(k) for k in keys])


@router.delete("/{key_id}", response_model=s.KeyOut)
async def delete_key(key_id: str, request: Request, caller: CallerDep) -> s.KeyOut:
    """Delete one of your keys (admins: anyone's); what it signs is refused from then on."""
    return s.KeyOut.from_entity(await caller(get_keys(request).delete, key_id))
