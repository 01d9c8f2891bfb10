"""One real server process for the serving tests (deployments run as its worker processes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serving_support import ServerProcess

from modelyard import Client


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("serving-home")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(served: ServerProcess) -> Iterator[Client]:
    with Client(served.url, served.token) as c:
        yield c
