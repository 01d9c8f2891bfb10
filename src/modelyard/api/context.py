"""Where a request came from: its id and client address, for the answer's ``X-Request-ID``
and for the audit entries the service makes meanwhile."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import Scope

from modelyard.domain.audit import request_context


def request_id(sent: bytes) -> str:
    """The client's ``X-Request-ID`` (at most 128 characters), or a new one."""
    return sent.decode("latin-1")[:128] or uuid.uuid4().hex


@contextmanager
def bound(scope: Scope, rid: str) -> Iterator[None]:
    """Keep ``rid`` in the request's state and bind it with the client's address."""
    scope.setdefault("state", {})["request_id"] = rid
    client = scope.get("client")
    with request_context(client=client[0] if client else None, request_id=rid):
        yield
