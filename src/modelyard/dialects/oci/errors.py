"""OCI's error shape, and modelyard's errors mapped to OCI's codes and statuses.

Every error of the dialect answers ``{"code": ..., "message": ...}`` with the request's
``opc-request-id``, as OCI's services do:

=======================================  ======  ============================
modelyard                                status  code
=======================================  ======  ============================
InvalidArgument, a malformed body        400     ``InvalidParameter``
Unauthenticated (no or a bad signature)  401     ``NotAuthenticated``
NotFound, PermissionDenied               404     ``NotAuthorizedOrNotFound``
no such route                            404     ``NotAuthorizedOrNotFound``
AlreadyExists, Conflict                  409     ``Conflict`` / ``IncorrectState``
an ``if-match`` that does not match      412     ``NoEtagMatch``
TooManyRequests                          429     ``TooManyRequests``
a JSON body over the size limit          413     ``RequestEntityTooLarge``
anything else                            500     ``InternalServerError``
=======================================  ======  ============================

OCI answers 404 rather than 403 to a caller who may not do something, so that it does not
tell what exists; so does the dialect.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelyard.api.errors import field_errors, install_handlers
from modelyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RegistryError,
    TooManyRequests,
    Unauthenticated,
)

log = logging.getLogger("modelyard.dialects.oci")


class EtagMismatch(Conflict):
    """An ``if-match`` header that is not the resource's ETag (OCI's 412)."""


def error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    """OCI's error answer."""
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def too_large(limit: int) -> dict[str, Any]:
    """The body of the 413 answering a request body over ``limit`` bytes."""
    message = f"request body is larger than {limit} bytes"
    return {"code": "RequestEntityTooLarge", "message": message}


def status_and_code(exc: RegistryError) -> tuple[int, str]:
    """OCI's status and error code for one of modelyard's errors."""
    if isinstance(exc, InvalidArgument):
        return 400, "InvalidParameter"
    if isinstance(exc, Unauthenticated):
        return 401, "NotAuthenticated"
    if isinstance(exc, NotFound | PermissionDenied):
        return 404, "NotAuthorizedOrNotFound"
    if isinstance(exc, EtagMismatch):
        return 412, "NoEtagMatch"
    if isinstance(exc, AlreadyExists):
        return 409, "Conflict"
    if isinstance(exc, Conflict):
        return 409, "IncorrectState"
    if isinstance(exc, TooManyRequests):
        return 429, "TooManyRequests"
    return 500, "InternalServerError"


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    status, code = status_and_code(exc)
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
    retry = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry)} if retry is not None else {}
    return error(status, code, exc.message, **headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message = "; ".join(f"{e.field}: {e.message}" for e in field_errors(exc))
    return error(400, "InvalidParameter", message or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        message = f"no such operation: {request.method} {request.url.path}"
        return error(404, "NotAuthorizedOrNotFound", message)
    return error(exc.status_code, "InvalidParameter", str(exc.detail))


def install(app: FastAPI) -> None:
    install_handlers(app, log, _registry_error, _validation_error, _http_error, _internal)


def _internal(request: Request) -> JSONResponse:
    return error(500, "InternalServerError", "internal server error")
