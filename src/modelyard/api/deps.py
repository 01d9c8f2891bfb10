"""Typed dependencies: the service and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from modelyard.domain.entities import User
from modelyard.domain.service import RegistryService


@dataclass(frozen=True, slots=True)
class Caller:
    """The service and who is calling it, for one request."""

    service: RegistryService
    user: User


def get_service(request: Request) -> RegistryService:
    return request.app.state.service


def get_caller(request: Request) -> Caller:
    service: RegistryService = request.app.state.service
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    user = service.authenticate(token.strip() if scheme.lower() == "bearer" else None)
    request.state.user = user.name
    return Caller(service=service, user=user)


ServiceDep = Annotated[RegistryService, Depends(get_service)]
CallerDep = Annotated[Caller, Depends(get_caller)]
