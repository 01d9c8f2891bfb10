"""Typed dependencies: the service and the authenticated caller."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from modelyard.domain.entities import User
from modelyard.domain.service import RegistryService

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Caller:
    """The service and who is calling it, for one request."""

    service: RegistryService
    user: User

    async def __call__(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one service method as this user in the worker thread pool: the one thread hop
        of a request (the handlers themselves are async)."""
        return await run_in_threadpool(method, self.user, *args, **kwargs)


def get_service(request: Request) -> RegistryService:
    return request.app.state.service


def credentials(header: str, *, basic: bool = False) -> tuple[str | None, str | None]:
    """(user name, token) from an ``Authorization`` header: ``Bearer <token>`` gives no user
    name; with ``basic``, ``Basic base64(<user>:<token>)`` too (what clients of foreign APIs
    such as opensearch-py send with ``http_auth=(user, token)``). (None, None) otherwise."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return None, value.strip() or None
    if basic and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        user, colon, token = decoded.partition(":")
        if colon and user and token:
            return user, token
    return None, None


def authenticated(request: Request, service: RegistryService, *, basic: bool = False) -> Caller:
    """Authenticate a request's credentials (see :func:`credentials`). Runs on the event
    loop: one indexed lookup, cheaper than a thread hop, and it answers 401 before any body
    is parsed."""
    user_name, token = credentials(request.headers.get("authorization", ""), basic=basic)
    user = service.authenticate(token, user=user_name)
    request.state.user = user.name
    return Caller(service=service, user=user)


async def get_caller(request: Request) -> Caller:
    """Authenticate the bearer token."""
    return authenticated(request, request.app.state.service)


async def get_optional_caller(request: Request) -> Caller | None:
    """The caller, or None when the request carries no credentials at all (for the
    prediction routes, which answer anonymous callers of a public deployment)."""
    if "authorization" not in request.headers:
        return None
    return await get_caller(request)


ServiceDep = Annotated[RegistryService, Depends(get_service)]
CallerDep = Annotated[Caller, Depends(get_caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(get_optional_caller)]
