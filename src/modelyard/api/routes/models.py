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
async def create_model(body: s.ModelCreate, caller: CallerDep) -> s.ModelOut:
    model = await caller(caller.service.create_model, **body.model_dump())
    return s.ModelOut.from_entity(model)


@router.get("", response_model=s.ModelList)
async def list_models(
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
    page = await caller(
        caller.service.list_models,
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
async def get_model(namespace: str, model: str, caller: CallerDep) -> s.ModelOut:
    return s.ModelOut.from_entity(await caller(caller.service.get_model, namespace, model))


@router.patch(MODEL, response_model=s.ModelOut)
async def update_model(
    namespace: str, model: str, body: s.ModelUpdate, caller: CallerDep
) -> s.ModelOut:
    changes = body.model_dump(exclude_unset=True)
    updated = await caller(caller.service.update_model, namespace, model, changes)
    return s.ModelOut.from_entity(updated)


@router.delete(MODEL, status_code=204)
async def delete_model(namespace: str, model: str, caller: CallerDep) -> Response:
    await caller(caller.service.delete_model, namespace, model)
    return Response(status_code=204)


@router.get(MODEL + "/metadata", response_model=s.MetadataOut)
async def get_model_metadata(namespace: str, model: str, caller: CallerDep) -> s.MetadataOut:
    found = await caller(caller.service.get_model, namespace, model)
    return s.MetadataOut(metadata=found.metadata)


@router.patch(MODEL + "/metadata", response_model=s.MetadataOut)
async def patch_model_metadata(
    namespace: str, model: str, body: dict[str, object], caller: CallerDep
) -> s.MetadataOut:
    """Merge keys into the model's metadata; a null value removes a key."""
    merged = await caller(caller.service.update_metadata, namespace, model, None, body)
    return s.MetadataOut(metadata=merged)


@router.post(MODEL + "/metrics", status_code=201, response_model=s.MetricList)
async def log_model_metrics(
    namespace: str, model: str, body: s.MetricsIn, caller: CallerDep
) -> s.MetricList:
    logged = await caller(caller.service.log_metrics, namespace, model, None, metrics_in(body))
    return s.MetricList(metrics=[s.MetricOut.from_entity(m) for m in logged])


@router.get(MODEL + "/metrics", response_model=s.MetricList)
async def list_model_metrics(
    namespace: str, model: str, caller: CallerDep, key: str | None = None
) -> s.MetricList:
    found = await caller(caller.service.list_metrics, namespace, model, None, key)
    return s.MetricList(metrics=[s.MetricOut.from_entity(m) for m in found])


@router.get(MODEL + "/tags", response_model=s.TagList)
async def list_tags(namespace: str, model: str, caller: CallerDep) -> s.TagList:
    return s.TagList(tags=await caller(caller.service.list_tags, namespace, model))


@router.get(MODEL + "/tags/{tag}", response_model=s.VersionOut)
async def get_tagged_version(
    namespace: str, model: str, tag: str, caller: CallerDep
) -> s.VersionOut:
    version = await caller(caller.service.version_by_tag, namespace, model, tag)
    return s.VersionOut.from_entity(version)


@router.put(MODEL + "/tags/{tag}", response_model=s.VersionOut)
async def set_tag(
    namespace: str, model: str, tag: str, body: s.TagSet, caller: CallerDep
) -> s.VersionOut:
    """Point a unique tag at a version; it leaves whichever version held it."""
    version = await caller(caller.service.set_tag, namespace, model, tag, body.version)
    return s.VersionOut.from_entity(version)


@router.delete(MODEL + "/tags/{tag}", status_code=204)
async def remove_tag(namespace: str, model: str, tag: str, caller: CallerDep) -> Response:
    await caller(caller.service.remove_tag, namespace, model, tag)
    return Response(status_code=204)


@router.get(MODEL + "/tags/{tag}/history", response_model=s.TagHistory)
async def tag_history(namespace: str, model: str, tag: str, caller: CallerDep) -> s.TagHistory:
    """Which version held the tag when, and who moved it (oldest first)."""
    events = await caller(caller.service.tag_history, namespace, model, tag)
    return s.TagHistory(events=[s.TagEventOut.from_entity(e) for e in events])
