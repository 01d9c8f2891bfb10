"""A real HTTP source on 127.0.0.1 serving files from a tmp dir, and URL imports wired to the
test registry with 127.0.0.1 explicitly allowed (the SSRF guard refuses it by default)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imports_support import Imports, make_imports

from http_source import Source, serving_files
from modelyard.imports.guard import AddressPolicy
from modelyard.imports.sources import UrlFetcher


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Source]:
    with serving_files(tmp_path / "source") as served:
        yield served


@pytest.fixture
def imports(registry: Any) -> Imports:
    """Imports that may reach 127.0.0.1 (allowed explicitly); runs tasks on run_pending()."""
    return make_imports(registry, UrlFetcher(policy=AddressPolicy.parse("127.0.0.1")))


@pytest.fixture
def api_imports(api: Any, imports: Imports) -> Any:
    """The in-process API with URL imports enabled."""
    api.app.state.imports = imports.service
    return api
