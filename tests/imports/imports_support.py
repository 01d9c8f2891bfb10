"""Helpers of the URL-import tests: a real HTTP source on 127.0.0.1, and imports wired to a
test registry with 127.0.0.1 explicitly allowed (the SSRF guard refuses it by default)."""

from __future__ import annotations

from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from modelyard.domain.imports import ImportService
from modelyard.domain.tasks import TaskKind
from modelyard.imports.sources import UrlFetcher
from modelyard.runner import TaskRunner
from modelyard.store.tasks import SqlTaskStore


class Handler(SimpleHTTPRequestHandler):
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
