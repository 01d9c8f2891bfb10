"""Short calls for the REST API tests (each asserts its own success)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

BASE = "/api/v1/models"


def model_url(name: str, namespace: str = "default") -> str:
    return f"{BASE}/{namespace}/{name}"


def version_url(model: str, version: str, namespace: str = "default") -> str:
    return f"{model_url(model, namespace)}/versions/{version}"


def create_model(client: httpx.Client, name: str, **body: Any) -> dict[str, Any]:
    r = client.post(BASE, json={"name": name, **body})
    assert r.status_code == 201, r.text
    return r.json()


def create_version(client: httpx.Client, model: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"{model_url(model)}/versions", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def upload(
    client: httpx.Client, model: str, version: str | None, path: str, data: bytes, **params: Any
) -> httpx.Response:
    where = version_url(model, version) if version else model_url(model)
    return client.put(f"{where}/files/{path}", content=data, params=params)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
