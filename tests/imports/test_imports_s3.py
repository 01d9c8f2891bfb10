"""``s3://`` imports from the session's real S3 server (SeaweedFS): the bytes arrive intact; a
missing key or a digest mismatch fails the task and stores nothing."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from imports_support import Imports, make_imports

from modelyard.imports.sources import UrlFetcher
from seaweedfs_support import SeaweedFS

BASE = "/api/v1/models/default"


@pytest.fixture
def s3_imports(api: Any, registry: Any, seaweedfs: SeaweedFS) -> Imports:
    """Imports reading S3 with the options a server builds from its ``s3_*`` settings."""
    fetcher = UrlFetcher(
        s3_options={
            "endpoint_url": seaweedfs.endpoint,
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
            "region_name": "us-east-1",
        }
    )
    imports = make_imports(registry, fetcher)
    api.app.state.imports = imports.service
    return imports


@pytest.fixture
def prefix() -> str:
    return f"imports-{uuid.uuid4().hex[:12]}"


def _version(client: Any) -> str:
    assert client.post("/api/v1/models", json={"name": "m"}).status_code == 201
    assert client.post(f"{BASE}/m/versions", json={"version": "1"}).status_code == 201
    return f"{BASE}/m/versions/1"


def _import_and_run(
    api: Any, imports: Imports, version: str, files: dict[str, str], **body: Any
) -> dict[str, Any]:
    r = api.admin.post(f"{version}/files:import", json={"files": files, **body})
    assert r.status_code == 202, r.text
    imports.runner.run_pending()
    return api.admin.get(f"/api/v1/tasks/{r.json()['id']}").json()


def test_an_s3_object_is_imported_byte_for_byte(
    api: Any, s3_imports: Imports, seaweedfs: SeaweedFS, prefix: str
):
    data = bytes(range(256)) * 12_000  # ~3 MiB: several chunks
    key = f"{prefix}/model dir/weights.bin"  # a space: the key is unquoted from the URL
    seaweedfs.client.put_object(Bucket=seaweedfs.bucket, Key=key, Body=data)
    version = _version(api.admin)
    url = f"s3://{seaweedfs.bucket}/{prefix}/model%20dir/weights.bin"
    digest = hashlib.sha256(data).hexdigest()
    done = _import_and_run(
        api, s3_imports, version, {"weights.bin": url}, sha256={"weights.bin": digest}
    )
    assert done["state"] == "COMPLETED", done
    assert done["result"]["files"][0]["sha256"] == digest
    assert api.admin.get(f"{version}/files/weights.bin").content == data


def test_a_missing_s3_key_fails_the_task_and_stores_nothing(
    api: Any, registry: Any, s3_imports: Imports, seaweedfs: SeaweedFS, prefix: str
):
    version = _version(api.admin)
    url = f"s3://{seaweedfs.bucket}/{prefix}/absent.bin"
    done = _import_and_run(api, s3_imports, version, {"a.bin": url})
    assert done["state"] == "FAILED"
    assert f"file a.bin from {url}: cannot read {url}" in done["error"], done["error"]
    assert "NoSuchKey" in done["error"]
    assert api.admin.get(f"{version}/files").json()["files"] == []
    assert registry.blob_files() == [] and registry.tmp_files() == []


def test_an_s3_object_with_another_digest_fails_the_task_and_stores_nothing(
    api: Any, registry: Any, s3_imports: Imports, seaweedfs: SeaweedFS, prefix: str
):
    seaweedfs.client.put_object(Bucket=seaweedfs.bucket, Key=f"{prefix}/a.bin", Body=b"abc")
    version = _version(api.admin)
    url = f"s3://{seaweedfs.bucket}/{prefix}/a.bin"
    done = _import_and_run(api, s3_imports, version, {"a.bin": url}, sha256={"a.bin": "0" * 64})
    assert done["state"] == "FAILED"
    assert "file a.bin" in done["error"] and "sha256: expected " + "0" * 64 in done["error"]
    assert api.admin.get(f"{version}/files").json()["files"] == []
    assert registry.blob_files() == [] and registry.tmp_files() == []
