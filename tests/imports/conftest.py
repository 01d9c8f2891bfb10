"""A real HTTP source on 127.0.0.1 serving files from a tmp dir, and URL imports wired to the
test registry with 127.0.0.1 explicitly allowed (the SSRF guard refuses it by default)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from imports_support import Handler, Imports, Source, make_imports

from modelyard.imports.guard import AddressPolicy
from modelyard.imports.sources import UrlFetcher


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Source]:
    root = tmp_path / "source"
    root.mkdir()

    def handler(*args: Any) -> Handler:
        return Handler(*args, directory=str(root))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Source(root=root, url=f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def imports(registry: Any) -> Imports:
    """Imports that may reach 127.0.0.1 (allowed explicitly); runs tasks on run_pending()."""
    return make_imports(registry, UrlFetcher(policy=AddressPolicy.parse("127.0.0.1")))


@pytest.fixture
def api_imports(api: Any, imports: Imports) -> Any:
    """The in-process API with URL imports enabled."""
    api.app.state.imports = imports.service
    return api
