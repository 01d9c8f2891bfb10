"""Wire payloads and types shared by the SDK unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

Handler = Callable[[httpx.Request], httpx.Response]

NOW = datetime(2025, 1, 1, tzinfo=UTC).isoformat()


def model_json(name: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "id": f"id-{name}",
        "namespace": namespace,
        "name": name,
        "owner": "admin",
        "task": None,
        "description": None,
        "metadata": {},
        "model_card": None,
        "access": "private",
        "created_at": NOW,
        "updated_at": NOW,
    }
