"""DeepDev's REST API (``/api/v1.0``): register a model from file URLs, read it, change its
visibility, deploy it and call it.

A DeepDev model is a modelyard model in the namespace ``deepdev``; its name/version is one
version there. ``model_files`` are imported by a URL import task (the SSRF guard and the
expected-hash checks of the native API apply), ``model_metainfo`` fills the version's
meta-info, ``index_page_file`` becomes the model card, and ``model_config`` the runtime (a
Python entry point, its conda environment or Docker base image). Both sections are kept as
given in the version's ``meta_info.model_config`` and answered back by GET. ``private`` is the
model's access level (private or public): a private model is invisible to others, who get 404,
and its owner still deploys it.

Errors have the shape of the Microsoft REST API guidelines DeepDev follows:
``{"error": {"code", "message", "target", "details": [{"code", "message", "target"}]}}``, and
bad input is a 400 whose ``target`` names the field.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import modelyard
from modelyard.api.errors import field_errors, install_handlers, status_for
from modelyard.errors import ErrorCode, FieldError, InvalidArgument, RegistryError

PREFIX = "/api/v1.0"
log = logging.getLogger(__name__)


def create_deepdev_app(parent: FastAPI) -> FastAPI:
    """The dialect's app, to mount at :data:`PREFIX`; it shares ``parent``'s state (the
    service, imports, gateway)."""
    from modelyard.dialects.deepdev.routes import router

    app = FastAPI(
        title="modelyard: DeepDev API",
        version=modelyard.__version__,
        description=__doc__,
        openapi_url="/openapi.json",
    )
    app.state = parent.state
    app.include_router(router)
    install_handlers(app, log, _registry_error, _validation_error, _http_error, _internal)
    return app


def error(
    status: int,
    code: str,
    message: str,
    target: str | None = None,
    details: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """DeepDev's error answer."""
    body: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        body["target"] = target
    if details:
        body["details"] = [{"code": code, "message": d.message, "target": d.field} for d in details]
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="modelyard"'}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


#: The service's names of a registration's fields, and DeepDev's.
_FIELDS = {
    "files": "model_files",
    "card_file": "model_metainfo.index_page_file",
    "owner": "model_config.owner",
}


def _theirs(field: str) -> str:
    head, dot, rest = field.partition(".")
    return _FIELDS[head] + dot + rest if head in _FIELDS else field


def too_large(limit: int) -> dict[str, Any]:
    """The body of the 413 answering a request body over ``limit`` bytes."""
    message = f"request body is larger than {limit} bytes"
    return {"error": {"code": str(ErrorCode.INVALID_ARGUMENT), "message": message}}


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    status = 400 if isinstance(exc, InvalidArgument) else status_for(exc)
    if status == 500:
        log.exception("internal error", exc_info=exc)
    details = [
        FieldError(field=_theirs(e.field), message=e.message.replace(e.field, _theirs(e.field), 1))
        for e in exc.errors
    ]
    message = exc.message
    if exc.field is not None:
        message = message.replace(exc.field, _theirs(exc.field), 1)
    retry = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry)} if retry is not None else None
    target = details[0].field if details else None
    return error(status, str(exc.code), message, target, details, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = field_errors(exc)
    message = "; ".join(f"{e.field}: {e.message}" for e in problems) or "invalid request"
    target = problems[0].field if problems else None
    return error(400, str(ErrorCode.INVALID_ARGUMENT), message, target, problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
        return error(404, str(ErrorCode.NOT_FOUND), message)
    return error(exc.status_code, str(ErrorCode.INVALID_ARGUMENT), str(exc.detail))


def _internal(request: Request) -> JSONResponse:
    return error(500, str(ErrorCode.INTERNAL), "internal server error")
