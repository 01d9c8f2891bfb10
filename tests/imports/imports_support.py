"""Helpers of the URL-import tests: imports wired to a test registry with 127.0.0.1 explicitly
allowed (the SSRF guard refuses it by default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.domain.imports import ImportService
from modelyard.domain.tasks import TaskKind
from modelyard.imports.sources import UrlFetcher
from modelyard.runner import TaskRunner
from modelyard.store.tasks import SqlTaskStore


@dataclass
class Imports:
    service: ImportService
    runner: TaskRunner
    store: SqlTaskStore


def make_imports(registry: Any, fetcher: UrlFetcher) -> Imports:
    store = SqlTaskStore(registry.service.store)
    runner = TaskRunner(store)
    service = ImportService(registry.service, store, fetcher, wake=runner.wake)
    runner.handle(TaskKind.IMPORT_FILES, service.run)
    return Imports(service=service, runner=runner, store=store)
