"""Tasks (``/api/v1/tasks``) and the URL import that starts one
(``POST .../versions/{version}/files:import``), plus the lifespan that runs the task runner
while the app is up."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from modelyard.api import schemas as s
from modelyard.api.deps import CallerDep
from modelyard.domain.imports import ImportService
from modelyard.domain.tasks import TaskState
from modelyard.errors import FailedPrecondition
from modelyard.runner import TaskRunner
from modelyard.serving.reconciler import Serving

router = APIRouter(prefix="/api/v1", tags=["tasks"])


def running(
    runner: TaskRunner | None, serving: Serving | None = None
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the serving backend runs (and its reconciler) and the runner
    claims tasks from start-up until shutdown; at shutdown the replicas stop."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        if serving is not None:
            await serving.start()
        if runner is not None:
            runner.start()
        # What start-up made lives as long as the server: out of the collector's way, so its
        # full collections stay short (they stalled predictions for tens of ms).
        gc.freeze()
        try:
            yield
        finally:
            if runner is not None:
                await run_in_threadpool(runner.stop)
            if serving is not None:
                await serving.stop()

    return lifespan


def get_imports(request: Request) -> ImportService:
    imports: ImportService | None = request.app.state.imports
    if imports is None:
        raise FailedPrecondition("URL imports and tasks are not enabled on this server")
    return imports


ImportsDep = Annotated[ImportService, Depends(get_imports)]


@router.post(
    "/models/{namespace}/{model}/versions/{version}/files:import",
    status_code=202,
    response_model=s.TaskOut,
)
async def import_files(
    namespace: str,
    model: str,
    version: str,
    body: s.ImportFiles,
    caller: CallerDep,
    imports: ImportsDep,
    response: Response,
) -> s.TaskOut:
    """Copy files from URLs into a PENDING version, asynchronously: poll the task."""
    task = await caller(
        imports.import_files,
        namespace,
        model,
        version,
        body.files,
        body.sha256,
        finish=body.finish,
    )
    response.headers["Location"] = f"/api/v1/tasks/{task.id}"
    return s.TaskOut.from_entity(task)


@router.get("/tasks/{task_id}", response_model=s.TaskOut)
async def get_task(task_id: str, caller: CallerDep, imports: ImportsDep) -> s.TaskOut:
    """A task on a model you can read."""
    return s.TaskOut.from_entity(await caller(imports.get_task, task_id))


@router.get("/tasks", response_model=s.TaskList)
async def list_tasks(
    caller: CallerDep,
    imports: ImportsDep,
    state: TaskState | None = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    page_token: str | None = None,
) -> s.TaskList:
    """Tasks on models you can read, newest first."""
    page = await caller(imports.list_tasks, state=state, page_size=page_size, page_token=page_token)
    return s.TaskList(
        tasks=[s.TaskOut.from_entity(t) for t in page.items],
        next_page_token=page.next_page_token,
    )
