"""Who signed a request: the signature checked against the registered key it names, and the
caller it acts as (the key's user, under the same permissions as on every other surface)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from modelyard.api.deps import Caller
from modelyard.dialects.oci import signature
from modelyard.domain.entities import User
from modelyard.domain.keys import ApiKeys, load_public_key
from modelyard.errors import FailedPrecondition


def _target(request: Request) -> str:
    """The path and query as the client sent them (what ``(request-target)`` signs)."""
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


def authenticate(request: Request, body: bytes | None) -> Caller:
    """The caller of a signed request; ``body`` is the body when the route requires it signed
    (None: an artifact upload, whose body the SDK does not sign). Failures count towards the
    failed-authentication limit, as a bad token's do."""
    state = request.app.state
    enabled: ApiKeys | None = state.keys
    if enabled is None:
        raise FailedPrecondition("signing keys are not enabled on this server")
    keys = enabled

    def verify() -> User:
        signed = signature.parse(request.headers.get("authorization", ""))
        user, key = keys.signer(signed.fingerprint)
        public, _ = load_public_key(key.public_key)
        signature.verify(
            public,
            signed,
            method=request.method,
            target=_target(request),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            now=datetime.now(UTC),
        )
        return user

    user = state.service.authenticate_with(verify)
    request.state.user = user.name
    return Caller(service=state.service, user=user)


async def signed(request: Request) -> Caller:
    """A request signed with its body (every JSON call)."""
    return authenticate(request, await request.body())


async def signed_headers(request: Request) -> Caller:
    """A request whose body is not signed (an artifact upload: its headers are)."""
    return authenticate(request, None)


SignedDep = Annotated[Caller, Depends(signed)]
SignedUploadDep = Annotated[Caller, Depends(signed_headers)]
