"""A real HTTP source on 127.0.0.1 serving files from a tmp dir, and URL imports wired to the
test registry with 127.0.0.1 explicitly allowed (the SSRF guard refuses it by default)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from modelyard.domain.imports import ImportService
from modelyard.domain.tasks import TaskKind
from modelyard.imports.guard import AddressPolicy
from modelyard.imports.sources import UrlFetcher
from modelyard.runner import TaskRunner
from modelyard.store.tasks import SqlTaskStore


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus ``/redirect?to=URL`` answering 302 to that URL."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Source:
    root: Path
    url: str

    def add(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return f"{self.url}/{name}"


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Source]:
    root = tmp_path / "source"
    root.mkdir()

    def handler(*args: Any) -> _Handler:
        return _Handler(*args, directory=str(root))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Source(root=root, url=f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


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


@pytest.fixture
def imports(registry: Any) -> Imports:
    """Imports that may reach 127.0.0.1 (allowed explicitly); runs tasks on run_pending()."""
    return make_imports(registry, UrlFetcher(policy=AddressPolicy.parse("127.0.0.1")))


@pytest.fixture
def api_imports(api: Any, imports: Imports) -> Any:
    """The in-process API with URL imports enabled."""
    api.app.state.imports = imports.service
    return api
