"""The KServe V2 open inference protocol (``/v2``), over the same deployments as the native API.

A V2 model name is a deployment's ``name`` (by default its model's name); a version is the
deployed version's label. Errors answer in the protocol's own shape, ``{"error": "..."}``, with
the status the native API gives the same error. Health needs no token, as orchestrators probe
it; everything about a model needs one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from modelyard.api.deps import get_caller
from modelyard.api.errors import status_for
from modelyard.api.routes.deployments import gateway_of, public_gateway
from modelyard.domain.deployments import Deployment, DeploymentState
from modelyard.domain.entities import ANONYMOUS, User
from modelyard.errors import DeploymentNotFound, InvalidArgument, RegistryError, Unavailable
from modelyard.serving import v2

router = APIRouter(prefix="/v2", tags=["kserve-v2"])
MODEL = "/models/{name}"
VERSION = MODEL + "/versions/{version}"


async def _answer(work: Callable[[], Awaitable[Any]]) -> JSONResponse:
    try:
        return JSONResponse(await work())
    except RegistryError as exc:
        return JSONResponse({"error": exc.message}, status_code=status_for(exc))


async def _deployment(
    request: Request, name: str, version: str | None, *, public: bool = False
) -> tuple[User, Deployment]:
    """The caller, and the deployment named ``name`` serving ``version`` (any, when None);
    with ``public`` (inference), a caller without a token reaches a public deployment."""
    if public and "authorization" not in request.headers:
        user = ANONYMOUS
        gateway = public_gateway(request)
        deployment = await gateway.public_by_name(request.app.state.service, name)
    else:
        user = (await get_caller(request)).user
        deployment = await gateway_of(request).by_name(user, name)
    if version is not None and version not in (deployment.version, str(deployment.version_number)):
        raise DeploymentNotFound(f"model {name} serves version {deployment.version}, not {version}")
    return user, deployment


@router.get("/health/live")
async def server_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
async def server_ready() -> dict[str, bool]:
    return {"ready": True}


@router.get(MODEL)
async def model_metadata(request: Request, name: str) -> JSONResponse:
    return await _answer(lambda: _metadata(request, name, None))


@router.get(VERSION)
async def version_metadata(request: Request, name: str, version: str) -> JSONResponse:
    return await _answer(lambda: _metadata(request, name, version))


async def _metadata(request: Request, name: str, version: str | None) -> dict[str, Any]:
    _, deployment = await _deployment(request, name, version)
    pool = gateway_of(request).serving.pool(deployment.id)
    spec = pool.prepared.spec if pool is not None else None
    schema = pool.prepared.input_schema if pool is not None else None
    return {
        "name": deployment.name,
        "versions": [deployment.version],
        "platform": f"modelyard-{spec.flavor}" if spec else "modelyard",
        "inputs": v2.tensor_metadata(schema, "input-0"),
        "outputs": [],
    }


@router.get(MODEL + "/ready")
async def model_ready(request: Request, name: str) -> JSONResponse:
    return await _answer(lambda: _ready(request, name, None))


@router.get(VERSION + "/ready")
async def version_ready(request: Request, name: str, version: str) -> JSONResponse:
    return await _answer(lambda: _ready(request, name, version))


async def _ready(request: Request, name: str, version: str | None) -> dict[str, Any]:
    _, deployment = await _deployment(request, name, version)
    up = gateway_of(request).ready_replicas(deployment)
    if deployment.state != DeploymentState.ACTIVE or up == 0:
        raise Unavailable(f"model {name} is not ready ({deployment.state})")
    return {"name": deployment.name, "ready": True}


@router.post(MODEL + "/infer")
async def model_infer(request: Request, name: str) -> JSONResponse:
    return await _answer(lambda: _infer(request, name, None))


@router.post(VERSION + "/infer")
async def version_infer(request: Request, name: str, version: str) -> JSONResponse:
    return await _answer(lambda: _infer(request, name, version))


async def _infer(request: Request, name: str, version: str | None) -> dict[str, Any]:
    user, deployment = await _deployment(request, name, version, public=True)
    try:
        body = await request.json()
    except ValueError:
        raise InvalidArgument("the body is not JSON", field="body") from None
    data = v2.decode_inputs(body)
    done = await gateway_of(request).predict(user, deployment, data)
    request_id = body.get("id") if isinstance(body.get("id"), str) else uuid.uuid4().hex
    return {
        "model_name": done.deployment.name,
        "model_version": done.deployment.version,
        "id": request_id,
        "outputs": v2.encode_outputs(done.result),
    }
