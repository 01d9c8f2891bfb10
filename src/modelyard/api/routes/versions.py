"""/api/v1/models/{namespace}/{model}/versions: versions, their state, metadata, metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep
from modelyard.api.routes.metrics import metrics_in

router = APIRouter(prefix="/api/v1/models/{namespace}/{model}/versions", tags=["versions"])
VERSION = "/{version}"


@router.post("", status_code=201, response_model=s.VersionOut)
def create_version(
    namespace: str, model: str, body: s.VersionCreate, caller: CallerDep
) -> s.VersionOut:
    version = caller.service.create_version(
        caller.user,
        namespace,
        model,
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
    )
    return s.VersionOut.from_entity(version)


@router.get("", response_model=s.VersionList)
def list_versions(
    namespace: str,
    model: str,
    caller: CallerDep,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> s.VersionList:
    page = caller.service.list_versions(
        caller.user, namespace, model, page_size=page_size, page_token=page_token
    )
    return s.VersionList(
        versions=[s.VersionOut.from_entity(v) for v in page.items],
        next_page_token=page.next_page_token,
    )


@router.get(VERSION, response_model=s.VersionOut)
def get_version(namespace: str, model: str, version: str, caller: CallerDep) -> s.VersionOut:
    """A version by label, or by number when no label matches."""
    found = caller.service.get_version(caller.user, namespace, model, version)
    return s.VersionOut.from_entity(found)


@router.patch(VERSION, response_model=s.VersionOut)
def update_version(
    namespace: str, model: str, version: str, body: s.VersionUpdate, caller: CallerDep
) -> s.VersionOut:
    changes = body.model_dump(exclude_unset=True, by_alias=True)
    for key in ("meta_info", "provenance"):
        if key in changes:
            changes[key] = getattr(body, key)
    updated = caller.service.update_version(caller.user, namespace, model, version, changes)
    return s.VersionOut.from_entity(updated)


@router.delete(VERSION, status_code=204)
def delete_version(namespace: str, model: str, version: str, caller: CallerDep) -> Response:
    caller.service.delete_version(caller.user, namespace, model, version)
    return Response(status_code=204)


@router.post(VERSION + "/finish", response_model=s.VersionOut)
def finish_version(namespace: str, model: str, version: str, caller: CallerDep) -> s.VersionOut:
    """PENDING -> READY. From then on the version's files are immutable."""
    done = caller.service.finish_version(caller.user, namespace, model, version)
    return s.VersionOut.from_entity(done)


@router.post(VERSION + "/fail", response_model=s.VersionOut)
def fail_version(
    namespace: str, model: str, version: str, body: s.VersionFail, caller: CallerDep
) -> s.VersionOut:
    """PENDING -> FAILED, with a reason."""
    failed = caller.service.fail_version(caller.user, namespace, model, version, body.reason)
    return s.VersionOut.from_entity(failed)


@router.get(VERSION + "/metadata", response_model=s.MetadataOut)
def get_version_metadata(
    namespace: str, model: str, version: str, caller: CallerDep
) -> s.MetadataOut:
    found = caller.service.get_version(caller.user, namespace, model, version)
    return s.MetadataOut(metadata=found.metadata)


@router.patch(VERSION + "/metadata", response_model=s.MetadataOut)
def patch_version_metadata(
    namespace: str, model: str, version: str, body: dict[str, object], caller: CallerDep
) -> s.MetadataOut:
    """Merge keys into the version's metadata; a null value removes a key."""
    merged = caller.service.update_metadata(caller.user, namespace, model, version, body)
    return s.MetadataOut(metadata=merged)


@router.post(VERSION + "/metrics", status_code=201, response_model=s.MetricList)
def log_version_metrics(
    namespace: str, model: str, version: str, body: s.MetricsIn, caller: CallerDep
) -> s.MetricList:
    logged = caller.service.log_metrics(caller.user, namespace, model, version, metrics_in(body))
    return s.MetricList(metrics=[s.MetricOut.from_entity(m) for m in logged])


@router.get(VERSION + "/metrics", response_model=s.MetricList)
def list_version_metrics(
    namespace: str, model: str, version: str, caller: CallerDep, key: str | None = None
) -> s.MetricList:
    """Metrics by key, then step; entries without a step by wallclock."""
    found = caller.service.list_metrics(caller.user, namespace, model, version, key)
    return s.MetricList(metrics=[s.MetricOut.from_entity(m) for m in found])
