"""The body of a ``_search`` request, which OpenSearch clients send with POST and with GET."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from modelyard.dialects.opensearch.errors import ParsingError

#: The OpenAPI description of a search body (read from the request, not parsed by FastAPI,
#: so a GET may carry one too).
SEARCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "OpenSearch query DSL: query (match_all, match, term, "
                    "terms, bool, exists...), size, from, sort, _source.",
                }
            }
        },
    }
}


async def search_body(request: Request) -> dict[str, Any] | None:
    """The search request's JSON object; None when it has no body."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParsingError(f"body: malformed JSON ({exc})", field="body") from None
    if not isinstance(body, dict):
        raise ParsingError("body: expected a JSON object", field="body")
    return body
