"""DeepDev's routes, each one service call (or two) and a translation of its answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from modelyard.api.deps import CallerDep, OptionalCallerDep
from modelyard.api.routes.deployments import gateway_of, get_deployments, public_gateway
from modelyard.api.routes.tasks import get_imports
from modelyard.dialects.deepdev import PREFIX
from modelyard.dialects.deepdev import schemas as s
from modelyard.domain.deployments import Deployment
from modelyard.domain.entities import ANONYMOUS, ModelVersion, User, every
from modelyard.domain.enums import AccessLevel, VersionState
from modelyard.domain.ids import VersionLabel
from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.domain.service import RegistryService
from modelyard.errors import AlreadyExists, InvalidArgument

router = APIRouter()

#: The namespace DeepDev's models live in.
NAMESPACE = "deepdev"
MODEL = "/model/{model_name}/{model_version}"
DEPLOYMENT = "/deployment/{model_name}/{model_version}"

_ACCESS = {True: AccessLevel.PRIVATE, False: AccessLevel.PUBLIC}
_STATUS = {
    VersionState.PENDING: "REGISTERING",
    VersionState.READY: "REGISTERED",
    VersionState.FAILED: "FAILED",
}


def _model_url(name: str, version: str) -> str:
    return f"{PREFIX}/model/{name}/{version}"


def _deployment_url(name: str, version: str) -> str:
    return f"{PREFIX}/deployment/{name}/{version}"


# -- registering ---------------------------------------------------------------------------------


@router.put(MODEL, status_code=202, response_model=s.Accepted, tags=["model registration"])
async def register_model(
    model_name: str,
    model_version: str,
    body: s.Registration,
    request: Request,
    response: Response,
    caller: CallerDep,
) -> s.Accepted:
    """Register ``model_version`` of ``model_name``: its files are copied from the
    ``model_files`` URLs by a task, and the model is REGISTERED once all are in (FAILED,
    with the reason, if one cannot be copied). Follow ``status_url``."""
    body.check()
    for field, given, expected in (
        ("model_config.name", body.config.name, model_name),
        ("model_config.version", body.config.version, model_version),
    ):
        if given != expected:
            raise InvalidArgument(
                f"{field}: {given!r} differs from the path's {expected!r}", field=field
            )
    VersionLabel.parse(model_version, "model_version")
    imports = get_imports(request)
    private = body.config.private
    version, task = await caller(
        imports.register,
        NAMESPACE,
        model_name,
        body.model_files,
        access=None if private is None else _ACCESS[private],
        owner=body.config.owner,
        model_description=body.model_metainfo.description or None,
        card_file=body.model_metainfo.index_page_file,
        **_version_fields(body),
    )
    url = _model_url(model_name, version.label)
    response.headers["Location"] = url
    return s.Accepted(
        model_name=model_name,
        model_version=version.label,
        status=_STATUS[version.state],
        status_url=url,
        task_id=task.id,
    )


def _version_fields(body: s.Registration) -> dict[str, Any]:
    info = body.model_metainfo
    config = body.config
    return {
        "label": config.version,
        "description": info.description or None,
        "meta_info": {
            "input_types": list(info.input_types),
            "output_types": list(info.output_types),
            "input_languages": info.input_languages,
            "output_languages": info.output_languages,
            "input_description": info.input_description,
            "output_description": info.output_description,
            "num_params": info.num_params,
            "model_config": {
                "deepdev": {
                    "model_config": config.model_dump(mode="json", exclude={"owner", "private"}),
                    "model_metainfo": info.model_dump(mode="json"),
                }
            },
        },
        "runtime": RuntimeSpec(
            flavor=Flavor.PYTHON,
            entry_point=config.inference_script,
            conda_env=config.conda_file,
            docker_image=config.docker_base_image,
        ),
    }


# -- reading -------------------------------------------------------------------------------------


@router.get(MODEL, response_model=s.RegisteredModel, tags=["model registration"])
async def get_model(model_name: str, model_version: str, caller: CallerDep) -> s.RegisteredModel:
    """A registered model version: its sections as registered, its files once copied, and
    its status (REGISTERING, REGISTERED or FAILED with ``error``)."""
    service = caller.service
    model = await caller(service.get_model, NAMESPACE, model_name)
    version = await caller(service.get_version, NAMESPACE, model_name, model_version)
    files = await caller(service.list_files, NAMESPACE, model_name, version.label)
    sections = _sections(version)
    config = {**sections.get("model_config", {}), "name": model.name, "version": version.label}
    config.update(owner=model.owner, private=model.access != AccessLevel.PUBLIC)
    base = f"/api/v1/models/{NAMESPACE}/{model_name}/versions/{version.label}/files/"
    return s.RegisteredModel(
        config=config,
        model_files={
            f.path: s.StoredFile(size=f.size, sha256=f.sha256, url=base + f.path) for f in files
        },
        model_metainfo=sections.get("model_metainfo", {}),
        status=_STATUS.get(version.state, str(version.state)),
        error=version.status_message if version.state == VersionState.FAILED else None,
        created_at=version.created_at,
    )


def _sections(version: ModelVersion) -> dict[str, Any]:
    """What the registration gave, as kept in the version (empty for a version registered
    through another API)."""
    kept = version.meta_info.model_config_ or {}
    found = kept.get("deepdev")
    return found if isinstance(found, dict) else {}


@router.get("/models", response_model=s.ModelListing, tags=["model registration"])
async def list_models(caller: CallerDep) -> s.ModelListing:
    """The models you may see: yours, public ones, and those shared with you."""
    return await caller(_listing, caller.service)


def _listing(actor: User, service: RegistryService) -> s.ModelListing:
    models = every(
        lambda token: service.list_models(
            actor, namespace=NAMESPACE, page_size=1000, page_token=token
        )
    )
    return s.ModelListing(
        models=[
            s.ModelSummary(
                name=m.name,
                owner=m.owner,
                private=m.access != AccessLevel.PUBLIC,
                versions=[
                    v.label
                    for v in every(
                        lambda token, m=m: service.list_versions(
                            actor, NAMESPACE, m.name, page_size=1000, page_token=token
                        )
                    )
                ],
            )
            for m in models
        ]
    )


@router.patch(MODEL, response_model=s.RegisteredModel, tags=["model registration"])
async def set_visibility(
    model_name: str, model_version: str, body: s.Visibility, caller: CallerDep
) -> s.RegisteredModel:
    """(Owner or admin) make the model private or public; visibility is the model's, so it
    applies to all of its versions."""
    await caller(caller.service.get_version, NAMESPACE, model_name, model_version)
    access = AccessLevel.PRIVATE if body.private else AccessLevel.PUBLIC
    await caller(caller.service.update_model, NAMESPACE, model_name, {"access": access})
    return await get_model(model_name, model_version, caller)


# -- deploying -----------------------------------------------------------------------------------


@router.put(DEPLOYMENT, status_code=202, response_model=s.Accepted, tags=["model deployment"])
async def deploy_model(
    model_name: str,
    model_version: str,
    request: Request,
    caller: CallerDep,
    body: Annotated[s.DeploymentRequest | None, Body()] = None,
) -> Any:
    """(Owner or admin) deploy a REGISTERED model version; follow ``status_url`` until it is
    ACTIVE, then POST inputs to it. Deploying a version that is already deployed answers 200
    with that deployment."""
    deployments = await get_deployments(request)
    url = _deployment_url(model_name, model_version)
    wanted = body or s.DeploymentRequest()
    settings = {"replicas": wanted.replicas, "public": wanted.public}

    def deploy(actor: User) -> tuple[Deployment, str | None, bool]:
        version = caller.service.get_version(actor, NAMESPACE, model_name, model_version)
        try:
            deployment, task = deployments.deploy(
                actor,
                NAMESPACE,
                model_name,
                version=version.label,
                name=version.id,
                settings=settings,
            )
        except AlreadyExists:  # deployed already (past the check that the actor may deploy)
            live = deployments.for_version(actor, NAMESPACE, model_name, version.label)
            return live, live.task_id, False
        return deployment, task.id, True

    deployment, task_id, made = await caller(deploy)
    accepted = s.Accepted(
        model_name=model_name,
        model_version=deployment.version,
        status=str(deployment.state),
        status_url=url,
        task_id=task_id,
    )
    return JSONResponse(
        accepted.model_dump(mode="json"),
        status_code=202 if made else 200,
        headers={"Location": url},
    )


def _status(deployment: Deployment, ready: int, name: str, version: str) -> s.DeploymentStatus:
    return s.DeploymentStatus(
        model_name=name,
        model_version=deployment.version,
        deployment_id=deployment.id,
        status=str(deployment.state),
        ready_replicas=ready,
        error=deployment.status_message,
        scoring_url=_deployment_url(name, version),
    )


@router.get(DEPLOYMENT, response_model=s.DeploymentStatus, tags=["model deployment"])
async def deployment_status(
    model_name: str, model_version: str, request: Request, caller: CallerDep
) -> s.DeploymentStatus:
    """The deployment of a model version: its status, and where to POST inputs."""
    deployments = await get_deployments(request)
    deployment = await caller(deployments.for_version, NAMESPACE, model_name, model_version)
    ready = gateway_of(request).ready_replicas(deployment)
    return _status(deployment, ready, model_name, model_version)


@router.post(DEPLOYMENT, tags=["model deployment"])
async def predict(
    model_name: str,
    model_version: str,
    request: Request,
    caller: OptionalCallerDep,
    data: Annotated[Any, Body()],
) -> Any:
    """Run the deployed model on the request body, given to the inference script as it is
    (``run(raw_data)`` gets it as JSON text); answers what the script returns. Without a
    token only when the deployment was made ``public``."""
    if caller is None:
        gateway = public_gateway(request)
        service = request.app.state.service
        deployment = await gateway.public_by_version(service, NAMESPACE, model_name, model_version)
        user = ANONYMOUS
    else:
        gateway = gateway_of(request)
        deployment = await gateway.by_version(caller.user, NAMESPACE, model_name, model_version)
        user = caller.user
    done = await gateway.predict(user, deployment, data)
    return JSONResponse(done.result)


@router.delete(DEPLOYMENT, response_model=s.DeploymentStatus, tags=["model deployment"])
async def undeploy_model(
    model_name: str, model_version: str, request: Request, caller: CallerDep
) -> s.DeploymentStatus:
    """(Owner or admin) stop serving the model version."""
    deployments = await get_deployments(request)
    live = await caller(deployments.for_version, NAMESPACE, model_name, model_version)
    stopped = await caller(deployments.undeploy, live.id)
    return _status(stopped, 0, model_name, model_version)
