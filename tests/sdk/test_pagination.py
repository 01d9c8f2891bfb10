"""Listings follow ``next_page_token`` lazily."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

import httpx
from sdk_wire import Handler, model_json

from modelyard import Client

PAGES = {None: (["a", "b"], "t1"), "t1": (["c", "d"], "t2"), "t2": (["e"], None)}


def test_list_models_follows_tokens_lazily(mock_client: Callable[[Handler], Client]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        names, token = PAGES[request.url.params.get("page_token")]
        return httpx.Response(
            200, json={"models": [model_json(n) for n in names], "next_page_token": token}
        )

    client = mock_client(handler)
    models = client.list_models(name_prefix="x", page_size=2)
    assert seen == []
    assert [m.name for m in islice(models, 2)] == ["a", "b"]
    assert len(seen) == 1
    assert next(models).name == "c"
    assert len(seen) == 2
    assert [m.name for m in models] == ["d", "e"]
    assert len(seen) == 3
    assert all(r.url.params["name_prefix"] == "x" for r in seen)
    assert all(r.url.params["page_size"] == "2" for r in seen)
    assert "page_token" not in seen[0].url.params
    assert [r.url.params.get("page_token") for r in seen[1:]] == ["t1", "t2"]
    assert "owner" not in seen[0].url.params


def test_versions_follow_tokens(mock_client: Callable[[Handler], Client]) -> None:
    def version(n: int) -> dict[str, object]:
        return {
            "id": f"v{n}",
            "model_id": "id-m",
            "namespace": "default",
            "model": "m",
            "number": n,
            "version": str(n),
            "name": None,
            "description": None,
            "framework": None,
            "task": None,
            "input_schema": None,
            "output_schema": None,
            "meta_info": {},
            "provenance": {},
            "metadata": {},
            "tags": [],
            "state": "PENDING",
            "status_message": None,
            "content_digest": None,
            "created_by": "admin",
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "finished_at": None,
        }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/versions"):
            start = int(request.url.params.get("page_token") or 1)
            nxt = str(start + 2) if start + 2 <= 5 else None
            items = [version(n) for n in range(start, min(start + 2, 6))]
            return httpx.Response(200, json={"versions": items, "next_page_token": nxt})
        return httpx.Response(200, json=model_json("m"))

    model = mock_client(handler).get_model("m")
    assert [v.number for v in model.versions(page_size=2)] == [1, 2, 3, 4, 5]
