"""/api/v1/models: models, their metadata, metrics and tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep
from modelyard.api.routes.metrics import metrics_in

router = APIRouter(prefix="/api/v1/models", tags=["models"])
MODEL = "/{namespace}/{model}"


@router.post("", status_code=201, response_model=s.ModelOut)
def create_model(body: s.ModelCreate, caller: CallerDep) -> s.ModelOut:
    model = caller.service.create_model(caller.user, **body.model_dump())
    return s.ModelOut.from_entity(model)


@router.get("", response_model=s.ModelList)
def list_models(
    caller: CallerDep,
    namespace: str | None = None,
    name_prefix: str | None = None,
    name_contains: str | None = None,
    owner: str | None = None,
    task: str | None = None,
    tag: str | None = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    page_token: str | None = None,
) -> s.ModelList:
    page = caller.service.list_models(
        caller.user,
        namespace=namespace,
        name_prefix=name_prefix,
        name_contains=name_contains,
        owner=owner,
        task=task,
        tag=tag,
        page_size=page_size,
        page_token=page_token,
    )
    return s.ModelList(
        models=[s.ModelOut.from_entity(m) for m in page.items],
        next_page_token=page.next_page_token,
    )


@router.get(MODEL, response_model=s.ModelOut)
def get_model(namespace: str, model: str, caller: CallerDep) -> s.ModelOut:
    return s.ModelOut.from_entity(caller.service.get_model(caller.user, namespace, model))


@router.patch(MODEL, response_model=s.ModelOut)
def update_model(namespace: str, model: str, body: s.ModelUpdate, caller: CallerDep) -> s.ModelOut:
    changes = body.model_dump(exclude_unset=True)
    updated = caller.service.update_model(caller.user, namespace, model, changes)
    return s.ModelOut.from_entity(updated)


@router.delete(MODEL, status_code=204)
def delete_model(namespace: str, model: str, caller: CallerDep) -> Response:
    caller.service.delete_model(caller.user, namespace, model)
    return Response(status_code=204)


@router.get(MODEL + "/metadata", response_model=s.MetadataOut)
def get_model_metadata(namespace: str, model: str, caller: CallerDep) -> s.MetadataOut:
    return s.MetadataOut(metadata=caller.service.get_model(caller.user, namespace, model).metadata)


@router.patch(MODEL + "/metadata", response_model=s.MetadataOut)
def patch_model_metadata(
    namespace: str, model: str, body: dict[str, object], caller: CallerDep
) -> s.MetadataOut:
    """Merge keys into the model's metadata; a null value removes a key."""
    merged = caller.service.update_metadata(caller.user, namespace, model, None, body)
    return s.MetadataOut(metadata=merged)


@router.post(MODEL + "/metrics", status_code=201, response_model=s.MetricList)
def log_model_metrics(
    namespace: str, model: str, body: s.MetricsIn, caller: CallerDep
) -> s.MetricList:
    logged = caller.service.log_metrics(caller.user, namespace, model, None, metrics_in(body))
    return s.MetricList(metrics=[s.MetricOut.from_entity(m) for m in logged])


@router.get(MODEL + "/metrics", response_model=s.MetricList)
def list_model_metrics(
    namespace: str, model: str, caller: CallerDep, key: str | None = None
) -> s.MetricList:
    found = caller.service.list_metrics(caller.user, namespace, model, None, key)
    return s.MetricList(metrics=[s.MetricOut.from_entity(m) for m in found])


@router.get(MODEL + "/tags", response_model=s.TagList)
def list_tags(namespace: str, model: str, caller: CallerDep) -> s.TagList:
    return s.TagList(tags=caller.service.list_tags(caller.user, namespace, model))


@router.get(MODEL + "/tags/{tag}", response_model=s.VersionOut)
def get_tagged_version(namespace: str, model: str, tag: str, caller: CallerDep) -> s.VersionOut:
    version = caller.service.version_by_tag(caller.user, namespace, model, tag)
    return s.VersionOut.from_entity(version)


@router.put(MODEL + "/tags/{tag}", response_model=s.VersionOut)
def set_tag(
    namespace: str, model: str, tag: str, body: s.TagSet, caller: CallerDep
) -> s.VersionOut:
    """Point a unique tag at a version; it leaves whichever version held it."""
    version = caller.service.set_tag(caller.user, namespace, model, tag, body.version)
    return s.VersionOut.from_entity(version)


@router.delete(MODEL + "/tags/{tag}", status_code=204)
def remove_tag(namespace: str, model: str, tag: str, caller: CallerDep) -> Response:
    caller.service.remove_tag(caller.user, namespace, model, tag)
    return Response(status_code=204)


@router.get(MODEL + "/tags/{tag}/history", response_model=s.TagHistory)
def tag_history(namespace: str, model: str, tag: str, caller: CallerDep) -> s.TagHistory:
    """Which version held the tag when, and who moved it (oldest first)."""
    events = caller.service.tag_history(caller.user, namespace, model, tag)
    return s.TagHistory(events=[s.TagEventOut.from_entity(e) for e in events])
