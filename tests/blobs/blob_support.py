"""Helpers of the blob-store tests: the SeaweedFS handle and a backend under test."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.blobs.local import LocalBlobStore

BUCKET = "modelyard-test"
S3_PART = 5 * 1024 * 1024  # the smallest part size S3 allows


@dataclass
class SeaweedFS:
    endpoint: str
    bucket: str
    client: Any

    def store(self) -> Any:
        """An S3BlobStore with the smallest parts, under a prefix of its own in the bucket."""
        from modelyard.blobs.s3 import S3BlobStore

        return S3BlobStore(
            self.client, self.bucket, f"test-{uuid.uuid4().hex[:12]}", part_size=S3_PART
        )

    def keys(self, prefix: str) -> list[str]:
        """Every object and every unfinished multipart upload under ``prefix``."""
        objects = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return sorted(
            [o["Key"] for o in objects.get("Contents", ())]
            + [f"multipart:{u['Key']}" for u in uploads.get("Uploads", ())]
        )


@dataclass
class Backend:
    """A blob store under test and ``leftovers()``: every name it holds (blobs, temporary
    files or keys, unfinished multipart uploads), to check that nothing is left behind."""

    name: str
    store: Any
    leftovers: Callable[[], list[str]]


def local_backend(tmp_path: Path) -> Backend:
    store = LocalBlobStore(tmp_path / "blobs")
    return Backend(
        name="local",
        store=store,
        leftovers=lambda: sorted(
            str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file()
        ),
    )
