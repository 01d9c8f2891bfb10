"""Model groups (``/model_groups``): a model group is a modelyard model in the ``opensearch``
namespace; ``access_mode`` is its access level and ``backend_roles`` its teams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from modelyard.dialects.opensearch import query
from modelyard.dialects.opensearch.context import NAMESPACE, OpenSearch, OpenSearchDep
from modelyard.dialects.opensearch.documents import GROUP_INDEX, deleted, group_source
from modelyard.dialects.opensearch.schemas import AccessBody, GroupRegister, GroupUpdate
from modelyard.dialects.opensearch.searching import SEARCH_BODY, search_body
from modelyard.domain.entities import Model, ModelVersion, User, every
from modelyard.domain.service import RegistryService
from modelyard.errors import FailedPrecondition, InvalidArgument

router = APIRouter(prefix="/model_groups", tags=["model groups"])


def access_fields(body: AccessBody) -> dict[str, Any]:
    """``access_mode``, ``backend_roles`` and ``add_all_backend_roles`` as the service's
    ``access``, ``teams`` and ``add_all_backend_roles``. As in ML Commons, backend roles
    without an access mode mean ``restricted``, and none of the three means ``private``
    (model access control is always on)."""
    access = body.access_mode
    if access is None:
        access = "restricted" if body.backend_roles or body.add_all_backend_roles else "private"
    fields: dict[str, Any] = {"access": access}
    if body.backend_roles is not None:
        fields["teams"] = body.backend_roles
    if body.add_all_backend_roles:
        fields["add_all_backend_roles"] = True
    return fields


def all_groups(service: RegistryService, actor: User) -> list[Model]:
    """Every model group ``actor`` may see."""
    return list(
        every(
            lambda token: service.list_models(
                actor, namespace=NAMESPACE, page_size=1000, page_token=token
            )
        )
    )


def all_versions(service: RegistryService, actor: User, group: Model) -> Iterator[ModelVersion]:
    return every(
        lambda token: service.list_versions(
            actor, group.namespace, group.name, page_size=1000, page_token=token
        )
    )


def latest_version(service: RegistryService, actor: User, group: Model) -> int:
    return max((v.number for v in all_versions(service, actor, group)), default=0)


def group_document(service: RegistryService, actor: User, group: Model) -> dict[str, Any]:
    return group_source(group, latest_version(service, actor, group))


@router.post("/_register")
async def register_group(body: GroupRegister, os: OpenSearchDep) -> dict[str, Any]:
    """Create a model group; its name must be unused by any other group."""
    group = await os(
        os.service.create_model,
        name=body.name,
        namespace=NAMESPACE,
        description=body.description,
        **access_fields(body),
    )
    return {"model_group_id": group.id, "status": "CREATED"}


async def _search(request: Request, os: OpenSearch) -> dict[str, Any]:
    body = await search_body(request)
    user = os.caller.user

    def documents() -> list[query.Doc]:
        groups = all_groups(os.service, user)
        versions = os.service.versions_of(user, groups)
        return [
            query.Doc(
                id=g.id,
                source=group_source(g, max((v.number for v in versions.get(g.id, ())), default=0)),
            )
            for g in groups
        ]

    docs = await run_in_threadpool(documents)
    return query.search(docs, body, index=GROUP_INDEX)


@router.post("/_search", openapi_extra=SEARCH_BODY)
async def search_groups_post(request: Request, os: OpenSearchDep) -> dict[str, Any]:
    """Search the model groups the caller may see (the query DSL of ``query``)."""
    return await _search(request, os)


@router.get("/_search", openapi_extra=SEARCH_BODY)
async def search_groups_get(request: Request, os: OpenSearchDep) -> dict[str, Any]:
    """The same search; opensearch-py-ml sends it as a GET with a body."""
    return await _search(request, os)


@router.get("/{model_group_id}")
async def get_group(model_group_id: str, os: OpenSearchDep) -> dict[str, Any]:
    def get() -> dict[str, Any]:
        return group_document(os.service, os.caller.user, os.group(model_group_id))

    return await run_in_threadpool(get)


@router.put("/{model_group_id}")
async def update_group(model_group_id: str, body: GroupUpdate, os: OpenSearchDep) -> dict[str, Any]:
    """Change a group's description, access mode or backend roles (its owner or an admin
    changes its access); its name stays."""
    group = await run_in_threadpool(os.group, model_group_id)
    if body.name is not None and body.name != group.name:
        raise InvalidArgument("name: a model group keeps its name", field="name")
    changes: dict[str, Any] = access_fields(body) if body.given() else {}
    if body.description is not None:
        changes["description"] = body.description
    if changes:
        await os(os.service.update_model, group.namespace, group.name, changes)
    return {"status": "Updated"}


@router.delete("/{model_group_id}")
async def delete_group(model_group_id: str, os: OpenSearchDep) -> dict[str, Any]:
    """Delete a group that holds no models (ML Commons refuses to delete one that does:
    delete its models first)."""
    group = await run_in_threadpool(os.group, model_group_id)
    versions = await os(os.service.list_versions, group.namespace, group.name, page_size=1)
    if versions.items:
        raise FailedPrecondition(
            "Cannot delete the model group when it has associated model versions"
        )
    await os(os.service.delete_model, group.namespace, group.name)
    return deleted(GROUP_INDEX, group.id)
