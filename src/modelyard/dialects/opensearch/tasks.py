"""Tasks (``/tasks``): modelyard's tasks on model groups, as ML Commons' tasks
(REGISTER_MODEL: a register by URL; DEPLOY_MODEL: a deploy)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from modelyard.dialects.opensearch import query
from modelyard.dialects.opensearch.context import NAMESPACE, OpenSearch, OpenSearchDep
from modelyard.dialects.opensearch.documents import TASK_INDEX, TASK_TYPES, deleted, task_source
from modelyard.dialects.opensearch.searching import SEARCH_BODY, search_body
from modelyard.domain.entities import every
from modelyard.domain.tasks import Task
from modelyard.errors import NotFound

router = APIRouter(prefix="/tasks", tags=["tasks"])


def _ours(task: Task) -> bool:
    return task.namespace == NAMESPACE and task.kind in TASK_TYPES


async def _search(request: Request, os: OpenSearch) -> dict[str, Any]:
    body = await search_body(request)
    imports = os.imports
    user = os.caller.user

    def documents() -> list[query.Doc]:
        tasks = every(lambda token: imports.list_tasks(user, page_size=1000, page_token=token))
        return [query.Doc(id=t.id, source=task_source(t)) for t in tasks if _ours(t)]

    return query.search(await run_in_threadpool(documents), body, index=TASK_INDEX)


@router.post("/_search", openapi_extra=SEARCH_BODY)
async def search_tasks_post(request: Request, os: OpenSearchDep) -> dict[str, Any]:
    """Search the tasks on model groups the caller may see."""
    return await _search(request, os)


@router.get("/_search", openapi_extra=SEARCH_BODY)
async def search_tasks_get(request: Request, os: OpenSearchDep) -> dict[str, Any]:
    """The same search, as a GET with a body (what opensearch-py-ml sends)."""
    return await _search(request, os)


@router.get("/{task_id}")
async def get_task(task_id: str, os: OpenSearchDep) -> dict[str, Any]:
    """A task: its ``state`` (CREATED, RUNNING, COMPLETED, FAILED, with ``error``) and the
    ``model_id`` it registers or deploys."""
    task = await os(os.imports.get_task, task_id)
    if not _ours(task):
        raise NotFound(f"task {task_id!r} not found")
    return task_source(task)


@router.delete("/{task_id}")
async def delete_task(task_id: str, os: OpenSearchDep) -> dict[str, Any]:
    """Delete a task that has ended (whoever may delete its model's group)."""
    imports = os.imports
    user = os.caller.user

    def delete() -> None:
        if not _ours(imports.get_task(user, task_id)):
            raise NotFound(f"task {task_id!r} not found")
        imports.delete_task(user, task_id)

    await run_in_threadpool(delete)
    return deleted(TASK_INDEX, task_id)
