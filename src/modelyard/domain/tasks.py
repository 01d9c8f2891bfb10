"""Tasks: persisted asynchronous jobs, polled by id.

A task is created ``CREATED``; a runner claims it (``RUNNING``, with a lease that it renews
while it works), and ends it ``COMPLETED`` (with a result) or ``FAILED`` (with an error a person
can act on). A runner that dies leaves its task ``RUNNING``; once the lease expires another
runner (on this or another server sharing the database) claims it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from modelyard.domain.entities import Page, User


class TaskState(StrEnum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class TaskKind(StrEnum):
    IMPORT_FILES = "IMPORT_FILES"
    CHECK_VERSION = "CHECK_VERSION"
    DEPLOY = "DEPLOY"


#: A task claimed this many times without ending (its runner died each time) is failed.
MAX_ATTEMPTS = 3


@dataclass(frozen=True, kw_only=True)
class Task:
    id: str
    kind: TaskKind
    state: TaskState
    created_by: str
    model_id: str
    namespace: str
    model: str
    version_id: str | None
    version: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class NewTask:
    """What a use case asks the store to persist; the store gives it its row."""

    id: str
    kind: TaskKind
    created_by_id: str
    model_id: str
    version_id: str | None
    params: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class TaskQuery:
    """Tasks ``viewer`` may see (on models it can read), newest first."""

    viewer: User
    state: TaskState | None = None
    page_size: int = 50
    page_token: str | None = None


class TaskStore(Protocol):
    """Persistence of tasks. Claiming is decided by the database, so several servers sharing
    one database never run the same task at once."""

    def create_task(self, task: NewTask) -> Task: ...

    def get_task(self, task_id: str) -> Task | None: ...

    def list_tasks(self, query: TaskQuery) -> Page[Task]: ...

    def delete_task(self, task_id: str) -> bool:
        """Delete a task that has ended (COMPLETED or FAILED); False when there is no such
        task, or it has not ended."""
        ...

    def claim_task(self, owner: str, now: datetime, lease_until: datetime) -> Task | None:
        """Take the oldest ``CREATED`` task, or a ``RUNNING`` one whose lease expired before
        ``now``: it becomes ``RUNNING`` under ``owner`` until ``lease_until`` and its attempts
        count up. None when there is nothing to do."""
        ...

    def renew_lease(self, task_id: str, owner: str, lease_until: datetime) -> bool:
        """Extend the lease; False when ``owner`` no longer holds the task."""
        ...

    def end_task(
        self,
        task_id: str,
        owner: str,
        *,
        state: TaskState,
        result: dict[str, Any] | None,
        error: str | None,
        now: datetime,
    ) -> bool:
        """``RUNNING`` -> ``state`` (COMPLETED or FAILED), if ``owner`` still holds the task.
        ``state`` CREATED hands it back unfinished (a runner stopping). False when the lease
        was lost."""
        ...


class TaskFailed(Exception):
    """Raised by a task's handler: the task ends FAILED with this message."""


class Interrupted(Exception):
    """Raised by a heartbeat: the runner is stopping or lost the task's lease, so the handler
    must stop (and store nothing more); the task is handed back or left to its new owner."""
