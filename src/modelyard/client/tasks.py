"""Tasks in the SDK: fetch one, list them, and wait for one to end."""

from __future__ import annotations

import time

from modelyard.api import schemas as s
from modelyard.client._transport import Transport, segment
from modelyard.domain.tasks import TaskState
from modelyard.errors import FailedPrecondition

ENDED = (TaskState.COMPLETED, TaskState.FAILED)


def get_task(transport: Transport, task_id: str) -> s.TaskOut:
    return transport.call("GET", f"/api/v1/tasks/{segment(task_id)}", s.TaskOut)


def wait_for(
    transport: Transport, task_id: str, timeout: float | None = None, poll: float = 0.5
) -> s.TaskOut:
    """Poll a task until it is COMPLETED (returned) or FAILED (FailedPrecondition with the
    task's error); TimeoutError after ``timeout`` seconds (None: no limit)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = min(poll, 0.1)
    while True:
        task = get_task(transport, task_id)
        if task.state == TaskState.FAILED:
            raise FailedPrecondition(
                f"task {task.id} failed: {task.error}", details={"task": task.id}
            )
        if task.state == TaskState.COMPLETED:
            return task
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"task {task.id} is still {task.state} after {timeout} s")
        time.sleep(delay)
        delay = min(delay * 2, poll)
