"""Deployments (``/api/v1/deployments``) and native JSON predictions, by deployment or by a
version's label or tag (``/api/v1/models/{ns}/{model}/versions/{ref}/predict``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep, OptionalCallerDep
from modelyard.domain.deployments import Deployment, DeploymentService
from modelyard.domain.entities import ANONYMOUS, User
from modelyard.errors import FailedPrecondition, Unavailable
from modelyard.serving.gateway import Gateway

router = APIRouter(prefix="/api/v1", tags=["deployments"])
DEPLOYMENT = "/deployments/{deployment_id}"


async def get_deployments(request: Request) -> DeploymentService:
    # async: FastAPI runs a plain def dependency in a thread, a hop on every prediction
    deployments: DeploymentService | None = request.app.state.deployments
    if deployments is None:
        raise FailedPrecondition("deployments are not enabled on this server")
    return deployments


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway | None = request.app.state.gateway
    if gateway is None:
        raise FailedPrecondition("serving is not enabled on this server")
    return gateway


def public_gateway(request: Request) -> Gateway:
    """The gateway, for a caller without a token; a server without serving has no public
    deployment, so the answer is the usual 401."""
    if request.app.state.gateway is None:
        request.app.state.service.authenticate(None)
    return gateway_of(request)


async def get_gateway(request: Request) -> Gateway:
    return gateway_of(request)


DeploymentsDep = Annotated[DeploymentService, Depends(get_deployments)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def _out(gateway: Gateway, deployment: Deployment) -> s.DeploymentOut:
    return s.DeploymentOut.from_entity(deployment, gateway.ready_replicas(deployment))


@router.post("/deployments", status_code=202, response_model=s.DeploymentOut)
async def create_deployment(
    body: s.DeploymentCreate,
    response: Response,
    caller: CallerDep,
    deployments: DeploymentsDep,
    gateway: GatewayDep,
) -> s.DeploymentOut:
    """(Owner or admin) deploy a READY version; poll ``task_id`` (or the deployment) until it
    is ACTIVE."""
    deployment, task = await caller(
        deployments.deploy,
        body.namespace,
        body.model,
        version=body.version,
        tag=body.tag,
        name=body.name,
        backend=body.backend,
        settings=body.settings(),
        force=body.force,
    )
    response.headers["Location"] = f"/api/v1/tasks/{task.id}"
    return _out(gateway, deployment)


@router.get("/deployments", response_model=s.DeploymentList)
async def list_deployments(
    caller: CallerDep,
    deployments: DeploymentsDep,
    gateway: GatewayDep,
    state: str | None = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> s.DeploymentList:
    page = await caller(deployments.list, state=state, page_size=page_size, page_token=page_token)
    return s.DeploymentList(
        deployments=[_out(gateway, d) for d in page.items], next_page_token=page.next_page_token
    )


@router.get(DEPLOYMENT, response_model=s.DeploymentOut)
async def get_deployment(
    deployment_id: str, caller: CallerDep, deployments: DeploymentsDep, gateway: GatewayDep
) -> s.DeploymentOut:
    return _out(gateway, await caller(deployments.get, deployment_id))


@router.patch(DEPLOYMENT, response_model=s.DeploymentOut)
async def update_deployment(
    deployment_id: str,
    body: s.DeploymentUpdate,
    caller: CallerDep,
    deployments: DeploymentsDep,
    gateway: GatewayDep,
) -> s.DeploymentOut:
    """(Owner or admin) scale or reconfigure; live replicas follow without dropping requests."""
    changes = body.settings()
    return _out(gateway, await caller(deployments.update, deployment_id, changes))


@router.delete(DEPLOYMENT, response_model=s.DeploymentOut)
async def undeploy(
    deployment_id: str, caller: CallerDep, deployments: DeploymentsDep, gateway: GatewayDep
) -> s.DeploymentOut:
    """(Owner or admin) undeploy: STOPPED; its replicas stop within a second."""
    return _out(gateway, await caller(deployments.undeploy, deployment_id))


@router.get(DEPLOYMENT + "/live")
async def live(deployment_id: str, caller: CallerDep, gateway: GatewayDep) -> JSONResponse:
    """200 while a replica's worker process runs on this server, else 503."""
    deployment = await gateway.by_id(caller.user, deployment_id)
    pool = gateway.serving.pool(deployment.id)
    alive = pool is not None and any(pool.ready())
    return _health(deployment, alive, "live")


@router.get(DEPLOYMENT + "/ready")
async def ready(deployment_id: str, caller: CallerDep, gateway: GatewayDep) -> JSONResponse:
    """200 when the deployment is ACTIVE and all its replicas answer on this server."""
    deployment = await gateway.by_id(caller.user, deployment_id)
    up = gateway.ready_replicas(deployment)
    ok = deployment.state == "ACTIVE" and up >= deployment.settings.replicas
    return _health(deployment, ok, "ready")


def _health(deployment: Deployment, ok: bool, what: str) -> JSONResponse:
    if not ok:
        raise Unavailable(
            f"deployment {deployment.name} is not {what} ({deployment.state})",
            details={"state": str(deployment.state)},
        )
    return JSONResponse({what: True, "state": str(deployment.state)})


@router.post(DEPLOYMENT + "/predict", response_model=s.PredictOut)
async def predict(
    deployment_id: str,
    body: s.PredictIn,
    request: Request,
    caller: OptionalCallerDep,
) -> s.PredictOut:
    """Predict; without a token only with a deployment made ``public``."""
    if caller is None:
        gateway = public_gateway(request)
        deployment = await gateway.public(request.app.state.service, deployment_id)
        return await _predict(gateway, ANONYMOUS, deployment, body)
    gateway = gateway_of(request)
    deployment = await gateway.by_id(caller.user, deployment_id)
    return await _predict(gateway, caller.user, deployment, body)


@router.post("/models/{namespace}/{model}/versions/{version}/predict", response_model=s.PredictOut)
async def predict_version(
    namespace: str,
    model: str,
    version: str,
    body: s.PredictIn,
    caller: CallerDep,
    gateway: GatewayDep,
) -> s.PredictOut:
    """Predict with the live deployment of a version, named by label, number or tag (the
    version tagged ``production``, say: a tag move re-routes the next request)."""
    deployment = await gateway.by_version(caller.user, namespace, model, version)
    return await _predict(gateway, caller.user, deployment, body)


async def _predict(
    gateway: Gateway, user: User, deployment: Deployment, body: s.PredictIn
) -> s.PredictOut:
    done = await gateway.predict(user, deployment, body.data)
    d = done.deployment
    return s.PredictOut(
        predictions=done.result,
        deployment=d.id,
        model=f"{d.namespace}/{d.model}",
        version=d.version,
    )
