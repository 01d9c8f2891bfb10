"""/api/v1/models/{namespace}/{model}/versions: versions, their state, metadata, metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep
from modelyard.api.routes.metrics import metrics_in
from modelyard.api.routes.tasks import get_imports
from modelyard.errors import FailedPrecondition

router = APIRouter(prefix="/api/v1/models/{namespace}/{model}/versions", tags=["versions"])
VERSION = "/{version}"


@router.post("", status_code=201, response_model=s.VersionOut)
async def create_version(
    request: Request, namespace: str, model: str, body: s.VersionCreate, caller: CallerDep
) -> s.VersionOut:
    """With ``model_files`` the version's files are imported from URLs by a task
    (``import_task`` in the answer)."""
    fields = dict(
        label=body.version,
        name=body.name,
        description=body.description,
        framework=body.framework,
        task=body.task,
        input_schema=body.input_schema,
        output_schema=body.output_schema,
        meta_info=body.meta_info,
        provenance=body.provenance,
        metadata=body.metadata,
        tags=body.unique_tags,
        runtime=body.runtime,
    )
    if body.model_files is not None:
        imports = get_imports(request)
        version, task = await caller(
            imports.create_version,
            namespace,
            model,
            body.model_files,
            body.model_files_sha256,
            **fields,
        )
        return s.VersionOut.from_entity(version, import_task=task.id)
    version = await caller(caller.service.create_version, namespace, model, **fields)
    return s.VersionOut.from_entity(version)


@router.get("", response_model=s.VersionList)
async def list_versions(
    namespace: str,
    model: str,
    caller: CallerDep,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> s.VersionList:
    page = await caller(
        caller.service.list_versions, namespace, model, page_size=page_size, page_token=page_token
    )
    return s.VersionList(
        versions=[s.VersionOut.from_entity(v) for v in page.items],
        next_page_token=page.next_page_token,
    )


@router.get(VERSION, response_model=s.VersionOut)
async def get_version(namespace: str, model: str, version: str, caller: CallerDep) -> s.VersionOut:
    """A version by label, or by number when no label matches."""
    found = await caller(caller.service.get_version, namespace, model, version)
    return s.VersionOut.from_entity(found)


@router.patch(VERSION, response_model=s.VersionOut)
async def update_version(
    namespace: str, model: str, version: str, body: s.VersionUpdate, caller: CallerDep
) -> s.VersionOut:
    changes = body.model_dump(exclude_unset=True, by_alias=True)
    for key in ("meta_info", "provenance", "runtime"):
        if key in changes:
            changes[key] = getattr(body, key)
    updated = await caller(caller.service.update_version, namespace, model, version, changes)
    return s.VersionOut.from_entity(updated)


@router.delete(VERSION, status_code=204)
async def delete_version(namespace: str, model: str, version: str, caller: CallerDep) -> Response:
    await caller(caller.service.delete_version, namespace, model, version)
    return Response(status_code=204)


@router.post(VERSION + "/finish", response_model=s.VersionOut)
async def finish_version(
    namespace: str, model: str, version: str, caller: CallerDep
) -> s.VersionOut:
    """PENDING -> READY. From then on the version's files are immutable."""
    done = await caller(caller.service.finish_version, namespace, model, version)
    return s.VersionOut.from_entity(done)


@router.post(VERSION + "/checks", status_code=202, response_model=s.TaskOut)
async def run_checks(
    request: Request, namespace: str, model: str, version: str, caller: CallerDep
) -> s.TaskOut:
    """Check a READY version again (writers); poll the task, then read ``checks`` on the
    version."""
    checks = request.app.state.checks
    if checks is None:
        raise FailedPrecondition("checks are not enabled on this server")
    task = await caller(checks.rerun, namespace, model, version)
    return s.TaskOut.from_entity(task)


@router.post(VERSION + "/fail", response_model=s.VersionOut)
async def fail_version(
    namespace: str, model: str, version: str, caller: CallerDep, body: s.VersionFail | None = None
) -> s.VersionOut:
    """PENDING -> FAILED, with an optional reason."""
    reason = body.reason if body else None
    failed = await caller(caller.service.fail_version, namespace, model, version, reason)
    return s.VersionOut.from_entity(failed)


@router.get(VERSION + "/metadata", response_model=s.MetadataOut)
async def get_version_metadata(
    namespace: str, model: str, version: str, caller: CallerDep
) -> s.MetadataOut:
    found = await caller(caller.service.get_version, namespace, model, version)
    return s.MetadataOut(metadata=found.metadata)


@router.patch(VERSION + "/metadata", response_model=s.MetadataOut)
async def patch_version_metadata(
    namespace: str, model: str, version: str, body: dict[str, object], caller: CallerDep
) -> s.MetadataOut:
    """Merge keys into the version's metadata; a null value removes a key."""
    merged = await caller(caller.service.update_metadata, namespace, model, version, body)
    return s.MetadataOut(metadata=merged)


@router.post(VERSION + "/metrics", status_code=201, response_model=s.MetricList)
async def log_version_metrics(
    namespace: str, model: str, version: str, body: s.MetricsIn, caller: CallerDep
) -> s.MetricList:
    logged = await caller(caller.service.log_metrics, namespace, model, version, metrics_in(body))
    return s.MetricList(metrics=[s.MetricOut.from_entity(m) for m in logged])


@router.get(VERSION + "/metrics", response_model=s.MetricList)
async def list_version_metrics(
    namespace: str, model: str, version: str, caller: CallerDep, key: str | None = None
) -> s.MetricList:
    """Metrics by key, then step; entries without a step by wallclock."""
    found = await caller(caller.service.list_metrics, namespace, model, version, key)
    return s.MetricList(metrics=[s.MetricOut.from_entity(m) for m in found])
