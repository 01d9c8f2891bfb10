"""Content-addressed blobs in an S3-compatible bucket: ``<prefix>sha256/ab/<hex>``.

Writes hash the bytes on the way and hold about two parts in memory at most. A blob smaller than
one part is sent with one PutObject to its final key once its digest is known. A larger one
goes as a multipart upload to a temporary key ``<prefix>tmp/<uuid>`` (invisible until
completed); after the size and digest check it is completed and copied server-side to its
final key, and the temporary key is removed. A mismatch or an abort cancels the multipart
upload, so a half-written blob is never visible under its digest and nothing is left behind.
Writing a blob that is already there overwrites it with the same bytes, which refreshes its
modification time: garbage collection's grace period then protects the deduplicated upload.

A finished upload session's staging file (:meth:`S3BlobStore.adopt`) is hashed first, so it
goes straight to its final key as a multipart upload: no temporary key, no server-side copy.

Clients made by :meth:`S3BlobStore.from_url` neither sign payloads nor add CRC checksums to
requests (``UNSIGNED-PAYLOAD``; checksums only where an operation requires them): each costs a
pass of CPU over every byte, and the bytes are already checked end to end by their SHA-256, on
receipt here and by the SDK on every download. ``https://`` endpoints protect them in transit.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from modelyard.blobs.verify import check_received, sha256_of
from modelyard.domain.ports import BlobInfo, StoredBlob
from modelyard.errors import FileNotFound, InvalidArgument

READ_CHUNK = 1024 * 1024
PART_SIZE = 16 * 1024 * 1024  # S3 wants >= 5 MiB for every part but the last
PARTS_PER_DOUBLING = 1000  # part size doubles every 1000 parts: 10,000 parts reach ~16 TB
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def _is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND


class S3BlobWriter:
    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self._hash = hashlib.sha256()
        self._size = 0
        self._buffer = bytearray()
        self._tmp_key = f"{store.prefix}tmp/{uuid.uuid4().hex}"
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._pending: Future[dict[str, Any]] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._done = False

    def _part_size(self) -> int:
        return self._store.part_size * 2 ** (len(self._parts) // PARTS_PER_DOUBLING)

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self._size += len(data)
        self._buffer += data
        while len(self._buffer) >= self._part_size():
            size = self._part_size()
            part = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._send_part(part)

    def _send_part(self, body: bytes) -> None:
        """Upload one part in the background while the caller produces the next one."""
        client, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            started = client.create_multipart_upload(Bucket=bucket, Key=self._tmp_key)
            self._upload_id = started["UploadId"]
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part")
        self._collect_pending()
        number = len(self._parts) + 1
        upload_id = self._upload_id
        assert self._executor is not None

        def send() -> dict[str, Any]:
            answer = client.upload_part(
                Bucket=bucket, Key=self._tmp_key, UploadId=upload_id, PartNumber=number, Body=body
            )
            return {"PartNumber": number, "ETag": answer["ETag"]}

        self._parts.append({"PartNumber": number})  # placeholder: keeps the numbering
        self._pending = self._executor.submit(send)

    def _collect_pending(self) -> None:
        if self._pending is not None:
            done = self._pending.result()
            self._parts[done["PartNumber"] - 1] = done
            self._pending = None

    def commit(self, *, expected_sha256: str | None, expected_size: int | None) -> BlobInfo:
        try:
            digest = self._hash.hexdigest()
            check_received(
                digest=digest,
                size=self._size,
                expected_sha256=expected_sha256,
                expected_size=expected_size,
            )
            store = self._store
            target = store.key_for(digest)
            if self._upload_id is None:
                store.client.put_object(Bucket=store.bucket, Key=target, Body=bytes(self._buffer))
            else:
                if self._buffer:
                    self._send_part(bytes(self._buffer))
                    self._buffer = bytearray()
                self._collect_pending()
                store.client.complete_multipart_upload(
                    Bucket=store.bucket,
                    Key=self._tmp_key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
                self._upload_id = None
                try:
                    store.client.copy(
                        {"Bucket": store.bucket, "Key": self._tmp_key},
                        store.bucket,
                        target,
                        Config=store.transfer_config,
                    )
                finally:
                    store.client.delete_object(Bucket=store.bucket, Key=self._tmp_key)
            self._done = True
            self._shutdown()
            return BlobInfo(sha256=digest, size=self._size)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        if self._pending is not None:
            with contextlib.suppress(Exception):  # the upload is cancelled below anyway
                self._pending.result()
            self._pending = None
        self._shutdown()
        if self._upload_id is not None:
            # Leaves an incomplete upload only if the store is unreachable right now; a
            # bucket lifecycle rule (AbortIncompleteMultipartUpload) reclaims those.
            with contextlib.suppress(BotoCoreError, ClientError):
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._tmp_key, UploadId=self._upload_id
                )
            self._upload_id = None

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class S3BlobStore:
    """Implements :class:`modelyard.domain.ports.BlobStore` on an S3-compatible bucket."""

    def __init__(
        self, client: Any, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.transfer_config = TransferConfig(multipart_chunksize=64 * 1024 * 1024)
        # Two parts at once: more did not help against SeaweedFS on 2 cores, and each one
        # in flight is a part in memory.
        self.upload_config = TransferConfig(
            multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=2
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
    ) -> S3BlobStore:
        """A store for ``s3://bucket/prefix``. Credentials and region not given here come
        from boto3's usual chain (``AWS_*`` variables, ``~/.aws``, instance roles)."""
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not url.startswith("s3://") or not bucket:
            raise InvalidArgument(
                f"blob_url: expected s3://bucket/prefix, got {url!r}", field="blob_url"
            )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region or None,
            config=Config(
                # Custom endpoints (SeaweedFS, MinIO, Ceph) rarely have per-bucket DNS names.
                s3={
                    "addressing_style": "path" if endpoint else "auto",
                    "payload_signing_enabled": False,
                },
                retries={"mode": "standard", "max_attempts": 5},
                max_pool_connections=32,
                # No SHA-256 of each payload for the signature, no CRC per request: see above.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        return cls(client, bucket, prefix)

    def check(self) -> None:
        """Fail early, naming the bucket, when it cannot be reached."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            raise InvalidArgument(
                f"blob_url: bucket {self.bucket!r} is not usable ({code}); create it or check "
                "the S3 endpoint and credentials",
                field="blob_url",
            ) from None

    def key_for(self, sha256: str) -> str:
        return f"{self.prefix}sha256/{sha256[:2]}/{sha256}"

    def writer(self) -> S3BlobWriter:
        return S3BlobWriter(self)

    def _head(self, sha256: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(
                Bucket=self.bucket, Key=self.key_for(sha256)
            )
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise
        return head

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise FileNotFound(f"blob sha256:{sha256} is missing from the blob store")
        return int(head["ContentLength"])

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if end is not None and end <= start:
            self.size(sha256)  # still a FileNotFound for a missing blob
            return iter(())
        options: dict[str, str] = {}
        if start > 0 or end is not None:
            options["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256), **options)
        except ClientError as exc:
            if _is_not_found(exc):
                raise FileNotFound(f"blob sha256:{sha256} is missing from the blob store") from None
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return iter(())  # start at or past the end: nothing, as a local file reads
            raise
        return _stream(answer["Body"])

    def adopt(
        self, path: Path, *, expected_sha256: str | None, expected_size: int | None
    ) -> BlobInfo:
        digest, size = sha256_of(path)
        check_received(
            digest=digest, size=size, expected_sha256=expected_sha256, expected_size=expected_size
        )
        if not self.touch(digest):  # dedup: touching renews an existing blob's age
            # Straight to the final key: a multipart upload is invisible until it completes,
            # and s3transfer cancels it on a failure.
            self.client.upload_file(
                str(path), self.bucket, self.key_for(digest), Config=self.upload_config
            )
        path.unlink()
        return BlobInfo(sha256=digest, size=size)

    def touch(self, sha256: str) -> bool:
        if self._head(sha256) is None:
            return False
        key = self.key_for(sha256)
        # Copying an object onto itself (with new metadata) renews its LastModified.
        self.client.copy(
            {"Bucket": self.bucket, "Key": key},
            self.bucket,
            key,
            ExtraArgs={"MetadataDirective": "REPLACE"},
            Config=self.transfer_config,
        )
        return True

    def iter_blobs(self) -> Iterator[StoredBlob]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}sha256/"
        )
        for page in pages:
            for item in page.get("Contents", ()):
                name = item["Key"].rsplit("/", 1)[-1]
                if _HEX64.fullmatch(name) and item["Key"] == self.key_for(name):
                    yield StoredBlob(
                        sha256=name, size=int(item["Size"]), modified_at=item["LastModified"]
                    )

    def delete(self, sha256: str, *, modified_before: datetime | None = None) -> bool:
        head = self._head(sha256)
        if head is None:
            return False
        if modified_before is not None and head["LastModified"] >= modified_before:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self.key_for(sha256))
        return True


def _stream(body: Any) -> Iterator[bytes]:
    with contextlib.closing(body):
        yield from body.iter_chunks(READ_CHUNK)
