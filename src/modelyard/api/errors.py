"""ErrorCode -> HTTP status, and the one JSON error shape: RFC 9457 problem details."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from modelyard.errors import (
    Conflict,
    DeadlineExceeded,
    ErrorCode,
    FieldError,
    InvalidArgument,
    ModelError,
    NotFound,
    PermissionDenied,
    RegistryError,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from modelyard.errors import IntegrityError as DigestMismatch

log = logging.getLogger("modelyard.api")

PROBLEM_JSON = "application/problem+json"

_STATUS: list[tuple[type[RegistryError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (InvalidArgument, 422),
    (DigestMismatch, 422),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (TooManyRequests, 429),
    (Unavailable, 503),
    (DeadlineExceeded, 504),
    (ModelError, 500),
]


def status_for(exc: RegistryError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def problem(
    request: Request,
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    body: dict[str, Any] = {
        "type": f"https://modelyard.dev/problems/{code.lower().replace('_', '-')}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors or [],
        "request_id": request_id,
    }
    if extra:
        body.update(extra)
    headers = {"X-Request-ID": request_id, **(headers or {})}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="modelyard"'
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    return registry_error_response(request, exc)


def registry_error_response(request: Request, exc: RegistryError) -> JSONResponse:
    """The problem+json answer to ``exc``, with the status its class maps to."""
    status = status_for(exc)
    if status == 500:
        log.exception("internal error", exc_info=exc)
    return problem(
        request,
        status,
        str(exc.code),
        exc.message,
        [e.to_dict() for e in exc.errors],
        {"details": exc.details} if exc.details else None,
        {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None,
    )


def field_errors(exc: RequestValidationError) -> list[FieldError]:
    """Each problem FastAPI found in a request, as a field (dotted, without the ``body``
    prefix) and a message a person reads; dialects give them in their own shapes."""
    errors = []
    for err in exc.errors():
        field = _field(tuple(err.get("loc", ())))
        if err.get("type") == "json_invalid":
            field = "body"
            msg = "malformed JSON: " + str(err.get("ctx", {}).get("error", err.get("msg")))
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif err.get("type") == "missing":
            msg = "field required"
        else:
            msg = err.get("msg", "invalid")
        errors.append(FieldError(field=field, message=msg))
    return errors


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc)
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid request"
    return problem(
        request, 422, str(ErrorCode.INVALID_ARGUMENT), detail, [e.to_dict() for e in errors]
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.INVALID_ARGUMENT}.get(
        exc.status_code, ErrorCode.INVALID_ARGUMENT
    )
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404:
        detail = f"no such endpoint: {request.method} {request.url.path}"
    return problem(request, exc.status_code, str(code), detail)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def install_handlers(
    app: FastAPI,
    logger: logging.Logger,
    registry_error: Handler,
    validation_error: Handler,
    http_error: Handler,
    internal_error: Callable[[Request], Response],
) -> None:
    """The exception handlers of one API surface (the native API, each dialect), in its own
    error shape: modelyard's errors, a request FastAPI could not parse, a route's 404/405, and
    anything unexpected, which ``logger`` logs with its traceback and ``internal_error``
    answers."""

    async def unhandled(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return internal_error(request)

    app.add_exception_handler(RegistryError, registry_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unhandled)


def install(app: FastAPI) -> None:
    install_handlers(app, log, _registry_error, _validation_error, _http_error, _internal)


def _internal(request: Request) -> Response:
    return problem(request, 500, str(ErrorCode.INTERNAL), "internal server error")
