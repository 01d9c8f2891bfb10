"""The REST API with its bytes on S3 (SeaweedFS): upload and ranged download round-trip."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from blob_support import S3_PART, SeaweedFS

DATA = bytes(range(241)) * (2 * S3_PART // 241 + 777)  # more than two parts: multipart
FILES = "/api/v1/models/default/big/files/weights.bin"


@pytest.fixture
def registry(registry: Any, seaweedfs: SeaweedFS) -> Any:
    """The SQLite registry of tests/conftest.py, its blobs on SeaweedFS."""
    registry.service.blobs = seaweedfs.store()
    return registry


def test_upload_and_ranged_download_on_s3(api: Any, seaweedfs: SeaweedFS) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    assert api.admin.post("/api/v1/models", json={"name": "big"}).status_code == 201
    r = api.admin.put(FILES, content=DATA, params={"sha256": digest})
    assert r.status_code == 201, r.text
    assert (r.json()["sha256"], r.json()["size"]) == (digest, len(DATA))
    store = api.service.blobs
    assert seaweedfs.keys(store.prefix) == [store.key_for(digest)]  # no temporary key left

    whole = api.admin.get(FILES)
    assert whole.status_code == 200
    assert whole.content == DATA
    start, end = S3_PART - 100, S3_PART + 99  # across a part boundary
    part = api.admin.get(FILES, headers={"Range": f"bytes={start}-{end}"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert part.content == DATA[start : end + 1]
    tail = api.admin.get(FILES, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == DATA[-10:]
