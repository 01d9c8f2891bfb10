"""Version checks: when a version becomes READY its files are checked in a worker process.

A ``CHECK_VERSION`` task is submitted when a version is finished (and when a READY version's
runtime spec changes, or a writer asks again). The task runner copies the version's stored
files into a scratch directory and hands them to the ``Checker`` (the sandbox of
``modelyard.runtime``: a separate process with a timeout and a memory limit). The report is
stored on the version, with the runtime spec the checks detected and the input/output schemas
inferred from the bundle's example when the version had none. Model code never runs here.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from modelyard.domain.audit import Auditor, audited
from modelyard.domain.entities import ModelVersion, User
from modelyard.domain.enums import VersionState
from modelyard.domain.ids import new_id
from modelyard.domain.runtime import CheckReport, CheckState, RuntimeSpec, jsonable
from modelyard.domain.service import RegistryService
from modelyard.domain.tasks import NewTask, Task, TaskFailed, TaskKind, TaskStore
from modelyard.errors import FailedPrecondition

log = logging.getLogger("modelyard.checks")


class Checker(Protocol):
    """Runs the checks on a bundle directory in a separate process and reports; it never
    raises for a fault of the model's."""

    def __call__(
        self,
        bundle: Path,
        spec: RuntimeSpec | None,
        *,
        sha256: Mapping[str, str],
        input_schema: dict[str, Any] | None,
        output_schema: dict[str, Any] | None,
    ) -> CheckReport: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class VersionChecks:
    def __init__(
        self,
        registry: RegistryService,
        tasks: TaskStore,
        checker: Checker,
        *,
        on_finish: bool = True,
        scratch_dir: Path | None = None,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.registry = registry
        self.tasks = tasks
        self.checker = checker
        self.scratch_dir = scratch_dir
        self._wake = wake
        self._clock = clock
        if on_finish:
            registry.on_ready.append(self.submit)
            registry.on_runtime_change.append(self.submit)

    # -- submitting ------------------------------------------------------------------------

    def submit(self, actor: User, version: ModelVersion) -> Task:
        """Queue a check run of a READY version; it replaces any earlier run's report."""
        task = self.tasks.create_task(
            NewTask(
                id=new_id(),
                kind=TaskKind.CHECK_VERSION,
                created_by_id=actor.id,
                model_id=version.model_id,
                version_id=version.id,
                params={},
                created_at=self._clock(),
            )
        )
        pending = CheckReport(state=CheckState.PENDING, task=task.id)
        self.registry.store.update_version(version.id, {"checks": jsonable(pending)})
        self._wake()
        return task

    @property
    def auditor(self) -> Auditor | None:
        return self.registry.auditor

    @audited("version.check")
    def rerun(self, actor: User, namespace: str, model_name: str, ref: str) -> Task:
        """(Writers) check a READY version again, e.g. after the server's environment changed."""
        _, version = self.registry.writable_version(actor, namespace, model_name, ref)
        if version.state != VersionState.READY:
            raise FailedPrecondition(
                f"version {version.label} is {version.state}; checks run on READY versions "
                f"(finish it first: `modelyard versions finish {namespace}/{model_name} "
                f"{version.label}`)",
                details={"state": str(version.state)},
            )
        return self.submit(actor, version)

    # -- running ---------------------------------------------------------------------------

    def run(self, task: Task, heartbeat: Callable[[], None]) -> dict[str, Any]:
        """Run a CHECK_VERSION task; returns the outcome (the report is on the version)."""
        version = self.registry.store.get_version_by_id(task.version_id or "")
        if version is None or version.state != VersionState.READY:
            raise TaskFailed("the version to check was deleted or is no longer READY")
        started = self._clock()
        running = CheckReport(state=CheckState.RUNNING, task=task.id, started_at=started)
        if self._record(version, task, {"checks": jsonable(running)}) is None:
            return {"state": "SUPERSEDED"}
        with tempfile.TemporaryDirectory(prefix="modelyard-check-", dir=self.scratch_dir) as tmp:
            bundle = Path(tmp)
            sha256, missing = self.registry.export_files(version, bundle, heartbeat)
            report = self._check(version, bundle, sha256, heartbeat)
        if missing:
            note = f"tracked files were not checked (modelyard does not hold them): {missing}"
            report = report.model_copy(
                update={"message": f"{report.message}; {note}" if report.message else note}
            )
        report = report.model_copy(
            update={"task": task.id, "started_at": started, "finished_at": self._clock()}
        )
        changes: dict[str, Any] = {"checks": jsonable(report)}
        if version.runtime is None and report.runtime is not None:
            changes["runtime"] = jsonable(report.runtime)
        inferred = report.model_dump(include={"input_schema", "output_schema"}, exclude_none=True)
        for key, schema in inferred.items():
            if getattr(version, key) is None:
                changes[key] = schema
        if self._record(version, task, changes) is None:
            return {"state": "SUPERSEDED"}
        return {
            "state": str(report.state),
            "failed": [r.id for r in report.failures()],
        }

    def _record(
        self, version: ModelVersion, task: Task, changes: Mapping[str, Any]
    ) -> ModelVersion | None:
        return self.registry.store.record_checks(version.id, task.id, changes)

    def _check(
        self,
        version: ModelVersion,
        bundle: Path,
        sha256: dict[str, str],
        heartbeat: Callable[[], None],
    ) -> CheckReport:
        """The checker's report, keeping the task's lease alive while the checker works."""
        outcome: list[CheckReport | BaseException] = []

        def work() -> None:
            try:
                outcome.append(
                    self.checker(
                        bundle,
                        version.runtime,
                        sha256=sha256,
                        input_schema=version.input_schema,
                        output_schema=version.output_schema,
                    )
                )
            except BaseException as exc:  # handed to the task thread below
                outcome.append(exc)

        worker = threading.Thread(target=work, name=f"modelyard-check-{version.id}", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(1.0)
            heartbeat()
        result = outcome[0]
        if isinstance(result, BaseException):
            log.error("checking version %s failed", version.id, exc_info=result)
            return CheckReport(
                state=CheckState.ERROR,
                message=f"the checks could not run: {type(result).__name__}: {result}",
            )
        return result
