"""SDK unit tests: a ``Client`` over ``httpx.MockTransport``, no server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from sdk_wire import Handler

from modelyard import Client


@pytest.fixture
def mock_client() -> Iterator[Callable[[Handler], Client]]:
    """Build clients whose requests go to a handler; all closed at the end."""
    made: list[Client] = []

    def make(handler: Handler) -> Client:
        client = Client("http://registry.test", "tok", transport=httpx.MockTransport(handler))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
