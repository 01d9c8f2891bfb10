"""The S3 store as the server builds it (``S3BlobStore.from_url``: unsigned payloads, checksums
only where required) against SeaweedFS: writes, session adoption straight to the final key,
reads; nothing temporary left behind."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
from blob_support import S3_PART, SeaweedFS

from modelyard.blobs.s3 import S3BlobStore
from modelyard.errors import IntegrityError

DATA = os.urandom(2 * S3_PART + 12_345)  # three parts
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def store(seaweedfs: SeaweedFS) -> S3BlobStore:
    configured = S3BlobStore.from_url(
        f"s3://{seaweedfs.bucket}/server-{uuid.uuid4().hex[:12]}",
        endpoint=seaweedfs.endpoint,
        access_key="test",
        secret_key="test",
        region="us-east-1",
    )
    # The server's client, with the smallest parts so a few MB make a multipart upload.
    return S3BlobStore(configured.client, configured.bucket, configured.prefix, part_size=S3_PART)


def test_writer_round_trip(store: S3BlobStore, seaweedfs: SeaweedFS) -> None:
    writer = store.writer()
    for i in range(0, len(DATA), 1_000_000):
        writer.write(DATA[i : i + 1_000_000])
    assert writer.commit(expected_sha256=SHA, expected_size=len(DATA)).sha256 == SHA
    assert b"".join(store.read(SHA)) == DATA
    assert b"".join(store.read(SHA, S3_PART - 5, S3_PART + 5)) == DATA[S3_PART - 5 : S3_PART + 5]
    assert seaweedfs.keys(store.prefix) == [store.key_for(SHA)]


def test_adopt_uploads_to_the_final_key(
    store: S3BlobStore, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    staged = tmp_path / "staged"
    staged.write_bytes(DATA)
    info = store.adopt(staged, expected_sha256=SHA, expected_size=len(DATA))
    assert (info.sha256, info.size) == (SHA, len(DATA))
    assert not staged.exists()
    assert b"".join(store.read(SHA)) == DATA
    assert seaweedfs.keys(store.prefix) == [store.key_for(SHA)]

    again = tmp_path / "again"  # the same bytes once more: the blob is kept, renewed
    again.write_bytes(DATA)
    assert store.adopt(again, expected_sha256=None, expected_size=None).sha256 == SHA
    assert not again.exists()
    assert seaweedfs.keys(store.prefix) == [store.key_for(SHA)]


def test_adopt_mismatch_sends_nothing(
    store: S3BlobStore, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    staged = tmp_path / "staged"
    staged.write_bytes(DATA)
    with pytest.raises(IntegrityError):
        store.adopt(staged, expected_sha256="0" * 64, expected_size=None)
    assert staged.exists()  # for the caller to remove
    assert seaweedfs.keys(store.prefix) == []
