"""The native prediction route, ``POST /api/v1/deployments/{id}/predict``, answered before
FastAPI's routing, body validation and dependency injection, which cost the API server more
than the rest of a prediction together (see benchmarks/RESULTS.md, serving speed).

It answers exactly what the route would -- same token check, gateway, errors (problem+json)
and request id -- for the requests it understands: a JSON object ``{"data": ...}`` whose
``Content-Length`` is within the payload limit. Anything else (another shape, no length, too
large, bad JSON) is handed to the app unchanged, its body replayed, so the route's own
validation answers it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.api.context import bound, request_id
from modelyard.api.errors import registry_error_response
from modelyard.domain.entities import ANONYMOUS
from modelyard.errors import RegistryError

PREDICT = re.compile(r"^/api/v1/deployments/([^/]+)/predict$")


class PredictFastPath:
    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PREDICT.match(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        kind = headers.get(b"content-type", b"")
        if (
            not length.isdigit()
            or int(length) > self.max_body
            or not kind.startswith(b"application/json")
        ):
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        data = _data(body)
        if data is None:
            await self.app(scope, _replay(body, receive), send)
            return
        await self._predict(scope, receive, send, headers, match.group(1), data[0])

    async def _predict(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        deployment_id: str,
        data: Any,
    ) -> None:
        rid = request_id(headers.get(b"x-request-id", b""))
        with bound(scope, rid):
            await self._answer(scope, receive, send, headers, deployment_id, data, rid)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        deployment_id: str,
        data: Any,
        rid: str,
    ) -> None:
        state = scope["app"].state
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        gateway = state.gateway
        try:
            if b"authorization" not in headers:  # only a public deployment answers
                user = ANONYMOUS
                deployment = await gateway.public(state.service, deployment_id)
            else:
                user = state.service.authenticate(
                    token.strip() if scheme.lower() == "bearer" else None
                )
                scope["state"]["user"] = user.name
                deployment = await gateway.by_id(user, deployment_id)
            done = await gateway.predict(user, deployment, data)
        except RegistryError as exc:
            response = registry_error_response(Request(scope, receive), exc)
        else:
            d = done.deployment
            answer = {
                "predictions": done.result,
                "deployment": d.id,
                "model": f"{d.namespace}/{d.model}",
                "version": d.version,
            }
            response = Response(
                json.dumps(answer, separators=(",", ":")).encode(),
                media_type="application/json",
                headers={"x-request-id": rid},
            )
        await response(scope, receive, send)


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _data(body: bytes) -> tuple[Any] | None:
    """``(data,)`` of a ``{"data": ...}`` body; None for anything the route should judge."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.keys() != {"data"}:
        return None
    return (value["data"],)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
