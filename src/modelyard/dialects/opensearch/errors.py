"""OpenSearch's error shape, and modelyard's errors mapped to OpenSearch's types and statuses.

Every error of the dialect answers ``{"error": {"root_cause": [{"type", "reason"}], "type",
"reason"}, "status"}``, as OpenSearch does:

========================================  ======  ==================================
modelyard                                 status  type
========================================  ======  ==================================
NotFound (a hidden model is not found)    404     ``status_exception``
no such route                             404     ``resource_not_found_exception``
InvalidArgument, IntegrityError           400     ``illegal_argument_exception``
AlreadyExists                             400     ``illegal_argument_exception``
Conflict (FailedPrecondition)             400     ``status_exception``
a body that is not JSON                   400     ``parsing_exception``
a body field of the wrong type            400     ``mapper_parsing_exception``
a missing field, a wrong enum value       400     ``illegal_argument_exception``
Unauthenticated                           401     ``security_exception``
PermissionDenied                          403     ``security_exception``
TooManyRequests                           429     ``status_exception``
Unavailable, DeadlineExceeded, ModelError 503/504/500 ``status_exception``
========================================  ======  ==================================

A reason that names a field starts with it (``"model_format: expected ..."``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelyard.api.errors import field_errors, install_handlers, status_for
from modelyard.errors import (
    AlreadyExists,
    Conflict,
    IntegrityError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RegistryError,
    TooManyRequests,
    Unauthenticated,
)

log = logging.getLogger("modelyard.dialects.opensearch")

#: Fields of a request body whose wrong type is a mapping error, not a missing value.
_TYPE_ERRORS = ("_type", "_parsing", "model_attributes_type", "list_type", "dict_type")


class ParsingError(InvalidArgument):
    """A request body that is not a JSON object (OpenSearch's ``parsing_exception``)."""

    type = "parsing_exception"


def error_body(status: int, kind: str, reason: str) -> dict[str, Any]:
    return {
        "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
        "status": status,
    }


def error_response(status: int, kind: str, reason: str, **headers: str) -> JSONResponse:
    return JSONResponse(error_body(status, kind, reason), status_code=status, headers=headers)


def too_large(limit: int) -> dict[str, Any]:
    """The body of the 413 answering a request body over ``limit`` bytes."""
    return error_body(413, "status_exception", f"request body is larger than {limit} bytes")


def status_and_type(exc: RegistryError) -> tuple[int, str]:
    """OpenSearch's status and error type for one of modelyard's errors."""
    if isinstance(exc, NotFound):
        return 404, "status_exception"
    if isinstance(exc, InvalidArgument | IntegrityError | AlreadyExists):
        return 400, "illegal_argument_exception"
    if isinstance(exc, Conflict):
        return 400, "status_exception"
    if isinstance(exc, Unauthenticated):
        return 401, "security_exception"
    if isinstance(exc, PermissionDenied):
        return 403, "security_exception"
    return status_for(exc), "status_exception"


def _reason(exc: RegistryError) -> str:
    """The message, starting with the field it names, by the dialect's name for it
    (``backend_roles`` for the native ``teams``)."""
    message = exc.message
    field = exc.field
    if field and not message.startswith(field):
        message = f"{field}: {message}"
    if message.startswith("teams:"):
        message = "backend_roles:" + message.removeprefix("teams:")
    return message


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    status, kind = status_and_type(exc)
    own = getattr(exc, "type", None)  # the query DSL's errors carry OpenSearch's own type
    if isinstance(own, str) and own:
        kind = own
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
    headers = {"WWW-Authenticate": 'Basic realm="modelyard"'} if status == 401 else {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(status, kind, _reason(exc), **headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    errors = field_errors(exc)
    reason = "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid request"
    types = [str(e.get("type", "")) for e in raw]
    if "json_invalid" in types:
        kind = "parsing_exception"
    elif any(t.endswith(_TYPE_ERRORS) for t in types):
        kind = "mapper_parsing_exception"
    else:
        kind = "illegal_argument_exception"
    return error_response(400, kind, reason)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        reason = f"no handler found for uri [{request.url.path}] and method [{request.method}]"
        return error_response(404, "resource_not_found_exception", reason)
    if exc.status_code == 405:
        reason = f"Incorrect HTTP method for uri [{request.url.path}] and method [{request.method}]"
        return error_response(405, "illegal_argument_exception", reason)
    return error_response(exc.status_code, "status_exception", str(exc.detail))


def install(app: FastAPI) -> None:
    install_handlers(app, log, _registry_error, _validation_error, _http_error, _internal)


def _internal(request: Request) -> JSONResponse:
    return error_response(500, "exception", "internal server error")
