"""TaskRunner: a thread in the API server that claims tasks from the database and runs them.

Every server runs one. A task is claimed under a lease that the handler renews through its
heartbeat while it works; a server that dies mid-task leaves the task ``RUNNING`` and, once the
lease has expired, any runner sharing the database claims and runs it again. A runner that is
stopped hands its task back (``CREATED``) for the next one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from modelyard.domain.ids import new_id
from modelyard.domain.tasks import (
    MAX_ATTEMPTS,
    Interrupted,
    Task,
    TaskFailed,
    TaskKind,
    TaskState,
    TaskStore,
)

log = logging.getLogger("modelyard.tasks")

Handler = Callable[[Task, Callable[[], None]], dict[str, Any]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TaskRunner:
    def __init__(
        self,
        tasks: TaskStore,
        *,
        lease: timedelta = timedelta(minutes=5),
        poll_interval: float = 2.0,
        threads: int = 1,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.tasks = tasks
        self.lease = lease
        self.poll_interval = poll_interval
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{new_id()[:12]}"
        self._clock = clock
        self._handlers: dict[TaskKind, Handler] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread_count = threads
        self._threads: list[threading.Thread] = []

    def handle(self, kind: TaskKind, handler: Handler) -> None:
        """Run tasks of ``kind`` with ``handler(task, heartbeat) -> result``."""
        self._handlers[kind] = handler

    def wake(self) -> None:
        """Look for work now (a task was just submitted) instead of at the next poll."""
        self._wake.set()

    # -- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the runner's threads: each claims and runs one task at a time, so a long
        task (a check, a deploy) holds up the others only when every thread is busy."""
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._loop, name=f"modelyard-tasks-{i}", daemon=True)
            for i in range(self._thread_count)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; a running handler is interrupted at its next heartbeat and its task
        handed back."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_pending()
            except Exception:  # the database is unreachable, say: try again at the next poll
                log.exception("task runner: claiming tasks failed")
            if self._wake.wait(self.poll_interval):
                self._wake.clear()

    # -- claiming and running --------------------------------------------------------------

    def run_pending(self) -> int:
        """Claim and run tasks until none is left to claim; returns how many ran."""
        ran = 0
        while not self._stopping.is_set():
            now = self._clock()
            task = self.tasks.claim_task(self.owner, now, now + self.lease)
            if task is None:
                break
            self._run(task)
            ran += 1
        return ran

    def _run(self, task: Task) -> None:
        handler = self._handlers.get(task.kind)
        if task.attempts > MAX_ATTEMPTS:
            self._end(
                task,
                TaskState.FAILED,
                error=f"gave up after {MAX_ATTEMPTS} attempts: the server running it stopped "
                "each time",
            )
            return
        if handler is None:
            self._end(task, TaskState.FAILED, error=f"this server cannot run {task.kind} tasks")
            return
        try:
            result = handler(task, self._heartbeat(task))
        except Interrupted as exc:
            log.info("task %s interrupted: %s", task.id, exc)
            if self._stopping.is_set():
                self.tasks.end_task(
                    task.id,
                    self.owner,
                    state=TaskState.CREATED,
                    result=None,
                    error=None,
                    now=self._clock(),
                )
            return
        except TaskFailed as exc:
            self._end(task, TaskState.FAILED, error=str(exc))
            return
        except Exception as exc:
            log.exception("task %s failed unexpectedly", task.id)
            self._end(task, TaskState.FAILED, error=f"internal error: {type(exc).__name__}: {exc}")
            return
        self._end(task, TaskState.COMPLETED, result=result)

    def _end(
        self,
        task: Task,
        state: TaskState,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        if not self.tasks.end_task(
            task.id, self.owner, state=state, result=result, error=error, now=self._clock()
        ):
            log.warning("task %s: lease lost before it could be marked %s", task.id, state)

    def _heartbeat(self, task: Task) -> Callable[[], None]:
        """Called by the handler between units of work: renews the lease once a third of it
        has passed; raises Interrupted when stopping or when the lease was lost."""
        renewed = self._clock()

        def beat() -> None:
            nonlocal renewed
            if self._stopping.is_set():
                raise Interrupted("the server is stopping")
            now = self._clock()
            if now - renewed >= self.lease / 3:
                if not self.tasks.renew_lease(task.id, self.owner, now + self.lease):
                    raise Interrupted("the lease was lost to another runner")
                renewed = now

        return beat
