"""The OpenSearch dialect in-process: the ``api`` fixture's registry served by an app with
upload sessions and URL imports (127.0.0.1 allowed explicitly: the SSRF guard refuses it by
default), tasks run by :meth:`OsApi.run_tasks`; and a static HTTP source on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearch_support import OsApi

from http_source import Source, serving_files
from modelyard.api.app import create_app
from modelyard.domain.imports import ImportService
from modelyard.domain.tasks import TaskKind
from modelyard.domain.uploads import UploadSessions
from modelyard.imports.guard import AddressPolicy
from modelyard.imports.sources import UrlFetcher
from modelyard.runner import TaskRunner
from modelyard.store.sessions import SqlUploadSessionStore
from modelyard.store.tasks import SqlTaskStore


@pytest.fixture
def osapi(api: Any, tmp_path: Path) -> Iterator[OsApi]:
    service = api.service
    sessions = UploadSessions(service, SqlUploadSessionStore(service.store), tmp_path / "uploads")
    tasks = SqlTaskStore(service.store)
    runner = TaskRunner(tasks)
    fetcher = UrlFetcher(policy=AddressPolicy.parse("127.0.0.1"))
    imports = ImportService(service, tasks, fetcher, wake=runner.wake)
    runner.handle(TaskKind.IMPORT_FILES, imports.run)
    app = create_app(service, sessions, imports=imports)
    holder = dataclasses.replace(api, app=app, _clients=[])
    yield OsApi(api=holder, runner=runner, sessions=sessions)
    holder.close()


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Source]:
    with serving_files(tmp_path / "source") as served:
        yield served
