from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from checking_server import checking_server

from modelyard import Client


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """One checking server for the runtime tests that need one."""
    with checking_server(tmp_path_factory.mktemp("checks-home")) as running:
        yield running


@pytest.fixture
def client(server: tuple[str, str, Path]) -> Iterator[Client]:
    url, token, _ = server
    with Client(url, token) as c:
        yield c
