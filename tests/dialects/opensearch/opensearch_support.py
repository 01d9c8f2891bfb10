"""Helpers of the OpenSearch dialect's tests: OpenSearch's error shape, zips of a model, the
request bodies of ML Commons' documentation, and the in-process app's handle."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx

from modelyard.domain.uploads import UploadSessions
from modelyard.runner import TaskRunner

ML = "/_plugins/_ml"
CHUNK = 10_000_000


def assert_os_error(
    response: httpx.Response, status: int, kind: str, reason: str | None = None
) -> str:
    """OpenSearch's error shape, with its status and type; the reason (which contains
    ``reason`` when given) is returned."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "status"}, body
    assert body["status"] == status
    error = body["error"]
    assert set(error) == {"root_cause", "type", "reason"}, error
    assert error["type"] == kind, body
    assert error["root_cause"] == [{"type": kind, "reason": error["reason"]}]
    if reason is not None:
        assert reason in error["reason"], body
    return str(error["reason"])


def model_zip(
    folder: str = "", *, onnx: bool = False, extra: dict[str, bytes] | None = None
) -> bytes:
    """A zip shaped like an OpenSearch model (bytes that are not a real model: registering
    does not load it)."""
    buffer = io.BytesIO()
    prefix = f"{folder}/" if folder else ""
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(prefix + ("model.onnx" if onnx else "model.pt"), b"\x80model" * 100)
        archive.writestr(prefix + "tokenizer.json", json.dumps({"model": {"vocab": {}}}))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_config(dim: int = 8) -> dict[str, Any]:
    return {
        "model_type": "bert",
        "embedding_dimension": dim,
        "framework_type": "sentence_transformers",
    }


def meta_body(
    data: bytes, *, name: str = "tiny-minilm", group: str = "", **extra: Any
) -> dict[str, Any]:
    """``models/meta`` as opensearch-py-ml sends it for ``data``."""
    body = {
        "name": name,
        "version": "1.0.0",
        "model_format": "TORCH_SCRIPT",
        "model_config": model_config(),
        "total_chunks": max(1, math.ceil(len(data) / CHUNK)),
        "model_content_size_in_bytes": len(data),
        "model_content_hash_value": sha256(data),
        "model_group_id": group,
    }
    body.update(extra)
    return body


def get_with_body(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """A GET carrying a JSON body, as opensearch-py-ml sends its searches."""
    headers = {"Content-Type": "application/json"}
    return client.request("GET", path, content=json.dumps(body).encode(), headers=headers)


def basic(user: str, token: str) -> dict[str, str]:
    value = base64.b64encode(f"{user}:{token}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


@dataclass
class OsApi:
    """The in-process app with uploads and imports; ``api`` is the ``api`` fixture's twin."""

    api: Any
    runner: TaskRunner
    sessions: UploadSessions

    @property
    def admin(self) -> httpx.Client:
        return self.api.admin

    def client_for(self, name: str) -> httpx.Client:
        return self.api.client_for(name)

    def run_tasks(self) -> int:
        return self.runner.run_pending()

    def group(self, client: httpx.Client, name: str, **fields: Any) -> str:
        response = client.post(f"{ML}/model_groups/_register", json={"name": name, **fields})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "CREATED"
        return str(response.json()["model_group_id"])

    def upload(self, client: httpx.Client, data: bytes, **meta: Any) -> str:
        """Register ``data`` through models/meta and its chunks; the model id."""
        response = client.post(f"{ML}/models/meta", json=meta_body(data, **meta))
        assert response.status_code == 200, response.text
        model_id = str(response.json()["model_id"])
        for n in range(max(1, math.ceil(len(data) / CHUNK))):
            chunk = data[n * CHUNK : (n + 1) * CHUNK]
            sent = client.post(
                f"{ML}/models/{model_id}/chunk/{n}",
                content=chunk,
                headers={"Content-Type": "application/json"},
            )
            assert sent.status_code == 200, sent.text
            assert sent.json() == {"status": "Uploaded"}
        return model_id
