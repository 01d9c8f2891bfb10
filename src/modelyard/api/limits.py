"""A cap on request bodies that are read into memory (JSON), answered as problem+json, or in
a dialect's own error shape under its path prefix.

File uploads (``PUT .../files/{path}``, ``PUT .../uploads/{id}``, ``PUT .../bundle``, and
OpenSearch ML Commons' ``POST /_plugins/_ml/models/{id}/chunk/{n}``, raw bytes labelled
``application/json`` that the dialect streams and limits to one chunk's size, and OCI Data
Science's ``POST /20190101/models/{id}/artifact``) stream to disk and are exempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.errors import ErrorCode

#: Largest request body outside file uploads.
MAX_JSON_BODY = 16 * 1024 * 1024

_UPLOAD = re.compile(
    r"^/api/v1/models/[^/]+/[^/]+/(versions/[^/]+/)?(files/.+|uploads/[^/]+|bundle)$"
)

_STREAMED_POST = re.compile(r"^/_plugins/_ml/models/[^/]+/chunk/[^/]+$")
#: OCI Data Science's artifact upload (``POST /20190101/models/{id}/artifact``): a zip, streamed.
_OCI_ARTIFACT = re.compile(r"^/20190101/models/[^/]+/artifact$")


class _TooLarge(Exception):
    pass


_PREDICT = re.compile(r"^/(api/v1/.+/predict|v2/models/.+/infer)$")


class BodyLimitMiddleware:
    """``max_body`` for JSON bodies; ``max_predict_body`` for predictions (native and V2)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int = MAX_JSON_BODY,
        max_predict_body: int | None = None,
        foreign: Mapping[str, Callable[[int], dict[str, Any]]] | None = None,
    ) -> None:
        """``foreign``: path prefix -> the refusal's JSON body in that dialect's shape."""
        self.app = app
        self.max_body = max_body
        self.max_predict_body = max_predict_body or max_body
        self.foreign = dict(foreign or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._streamed(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        limit = self.max_predict_body if _PREDICT.match(scope["path"]) else self.max_body
        length = dict(scope.get("headers", [])).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await self._reject(scope, send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._reject(scope, send, limit)

    @staticmethod
    def _streamed(method: str, path: str) -> bool:
        return (method == "PUT" and bool(_UPLOAD.match(path))) or (
            method == "POST" and bool(_STREAMED_POST.match(path) or _OCI_ARTIFACT.match(path))
        )

    async def _reject(self, scope: Scope, send: Send, limit: int) -> None:
        request_id = scope.get("state", {}).get("request_id", "")
        media_type = b"application/problem+json"
        shape = next((f for p, f in self.foreign.items() if scope["path"].startswith(p)), None)
        if shape is not None:
            body = json.dumps(shape(limit)).encode()
            media_type = b"application/json"
        else:
            body = self._problem(limit, request_id)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", media_type),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _problem(limit: int, request_id: str) -> bytes:
        return json.dumps(
            {
                "type": "https://modelyard.dev/problems/content-too-large",
                "title": "Content Too Large",
                "status": 413,
                "detail": f"request body is larger than {limit} bytes; "
                "files go through PUT .../files/{path}, which streams",
                "code": str(ErrorCode.INVALID_ARGUMENT),
                "errors": [{"field": "body", "message": f"at most {limit} bytes"}],
                "request_id": request_id,
            }
        ).encode()
