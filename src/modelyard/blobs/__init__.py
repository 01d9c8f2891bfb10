"""Blob stores: a local directory (default) or an S3-compatible bucket, chosen by URL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.errors import InvalidArgument

if TYPE_CHECKING:  # the SDK imports modelyard.blobs.hashed_file: no server settings for it
    from modelyard.config import Settings
    from modelyard.domain.ports import BlobStore


def open_blob_store(settings: Settings) -> BlobStore:
    """The store ``settings.blob_url`` names: unset for ``<home>/blobs``, ``file:///path``
    or ``s3://bucket/prefix`` (with the ``s3_*`` settings; the bucket must exist)."""
    url = settings.blob_url
    if url is None or url.startswith("file://"):
        from modelyard.blobs.local import LocalBlobStore

        root = settings.home / "blobs" if url is None else Path(url.removeprefix("file://"))
        return LocalBlobStore(root)
    if url.startswith("s3://"):
        try:
            from modelyard.blobs.s3 import S3BlobStore
        except ImportError:
            raise InvalidArgument(
                "blob_url: s3:// storage needs boto3: pip install 'modelyard[s3]'",
                field="blob_url",
            ) from None
        secret = settings.s3_secret_key
        store = S3BlobStore.from_url(
            url,
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=secret.get_secret_value() if secret else None,
            region=settings.s3_region,
        )
        store.check()
        return store
    raise InvalidArgument(
        f"blob_url: expected file:///path or s3://bucket/prefix, got {url!r}", field="blob_url"
    )
