"""One real ``modelyard server`` per test session, on 127.0.0.1 and a free port.

The server runs as a subprocess of the installed ``modelyard`` command with its own home
directory; tests reach it through the SDK and the CLI exactly as a user would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelyard import Client
from server_support import Server, running_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("server-home")) as started:
        yield started


@pytest.fixture
def admin(server: Server) -> Iterator[Client]:
    with Client(server.url, server.admin_token) as client:
        yield client
