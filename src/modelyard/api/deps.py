"""Typed dependencies: the service and the authenticated caller."""

from __future__ import annotations

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


async def get_caller(request: Request) -> Caller:
    """Authenticate the bearer token. Runs on the event loop: one indexed lookup, cheaper
    than a thread hop, and it answers 401 before any body is parsed."""
    service: RegistryService = request.app.state.service
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    user = service.authenticate(token.strip() if scheme.lower() == "bearer" else None)
    request.state.user = user.name
    return Caller(service=service, user=user)


async def get_optional_caller(request: Request) -> Caller | None:
    """The caller, or None when the request carries no credentials at all (for the
    prediction routes, which answer anonymous callers of a public deployment)."""
    if "authorization" not in request.headers:
        return None
    return await get_caller(request)


ServiceDep = Annotated[RegistryService, Depends(get_service)]
CallerDep = Annotated[Caller, Depends(get_caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(get_optional_caller)]
