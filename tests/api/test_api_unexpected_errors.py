"""A fault nobody planned for (a bug, a dropped database) answers 500 in the shape of the API
that was called, says nothing of the fault to the caller, and logs its traceback."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx
import pytest

from modelyard.api.app import create_app

#: (path, the logger of that surface, the 500 body expected)
SURFACES = [
    (
        "/api/v1/models",
        "modelyard.api",
        lambda body: body["status"] == 500 and body["code"] == "INTERNAL",
    ),
    (
        "/api/v1.0/models",
        "modelyard.dialects.deepdev",
        lambda body: body == {"error": {"code": "INTERNAL", "message": "internal server error"}},
    ),
    (
        "/_plugins/_ml/model_groups/_search",
        "modelyard.dialects.opensearch",
        lambda body: body["status"] == 500 and body["error"]["type"] == "exception",
    ),
]


@pytest.mark.parametrize(("path", "logger", "shaped"), SURFACES, ids=lambda s: str(s)[:24])
def test_an_unexpected_error_answers_500_in_the_surfaces_shape_and_is_logged(
    registry: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
    logger: str,
    shaped: Any,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away: secret detail")

    monkeypatch.setattr(registry.service, "list_models", broken)
    app = create_app(registry.service)

    async def call() -> httpx.Response:
        # the app re-raises after answering (for the server's own log): not the test's concern
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        headers = {"Authorization": f"Bearer {registry.admin_token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as client:
            return await client.get(path)

    with caplog.at_level(logging.ERROR):
        response = anyio.run(call)
    assert response.status_code == 500, response.text
    assert shaped(response.json()), response.json()
    assert "secret detail" not in response.text
    logged = [r for r in caplog.records if r.name == logger and r.exc_info]
    assert logged, [(r.name, r.getMessage()) for r in caplog.records]
    assert "unhandled error on GET" in logged[0].getMessage()
