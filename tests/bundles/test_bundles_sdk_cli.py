"""SDK and CLI bundle round trips against a real uvicorn server on 127.0.0.1 (in a thread),
and a member failing mid-way on a real blob store that runs out of room."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from bundle_zips import make_zip, sha256

from modelyard import Client
from modelyard.api.app import create_app
from modelyard.blobs.local import LocalBlobStore, LocalBlobWriter
from modelyard.domain.bundles import MANIFEST, BundleLimits, Bundles
from modelyard.errors import InvalidArgument

MODELYARD = Path(sys.executable).parent / "modelyard"
FILES = {"model.bin": bytes(range(256)) * 4000, "conf/params.json": b'{"a": 1}'}


@pytest.fixture
def server(registry: Any) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(registry.service), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_sdk_round_trip(server: str, registry: Any, tmp_path: Path) -> None:
    archive = tmp_path / "in.zip"
    archive.write_bytes(make_zip(list(FILES.items())))
    with Client(server, registry.admin_token) as client:
        version = client.new_model("m").new_model_version("1.0")
        stored = version.upload_bundle(archive)
        assert {a.path: a.sha256 for a in stored} == {p: sha256(d) for p, d in FILES.items()}
        out = version.download_bundle(tmp_path / "out.zip")
    with zipfile.ZipFile(out) as zf:
        got = {n: zf.read(n) for n in zf.namelist() if n != MANIFEST}
    assert {p: sha256(d) for p, d in got.items()} == {p: sha256(d) for p, d in FILES.items()}


def test_sdk_refusal_names_the_member(server: str, registry: Any, tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    archive.write_bytes(make_zip([("ok", b"1"), ("../../etc/cron.d/x", b"2")]))
    with Client(server, registry.admin_token) as client:
        version = client.new_model("m").new_model_version()
        with pytest.raises(InvalidArgument) as caught:
            version.upload_bundle(archive)
        assert caught.value.status == 422 and caught.value.field == "members[1]"
        assert version.artifacts() == []


def test_cli_push_and_pull(server: str, registry: Any, tmp_path: Path) -> None:
    archive = tmp_path / "in.zip"
    archive.write_bytes(make_zip(list(FILES.items())))
    env = {**os.environ, "MODELYARD_URL": server, "MODELYARD_TOKEN": registry.admin_token}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MODELYARD), *args], env=env, capture_output=True, text=True, timeout=60
        )

    assert run("models", "create", "m").returncode == 0
    pushed = run("bundle", "push", "m", str(archive), "--version", "1.0", "--finish")
    assert pushed.returncode == 0, pushed.stderr
    assert "conf/params.json" in pushed.stdout and "model.bin" in pushed.stdout
    out = tmp_path / "copy.zip"
    pulled = run("bundle", "pull", "m", "1.0", str(out), "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert {f["path"] for f in json.loads(pulled.stdout)} == set(FILES)
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted([*FILES, MANIFEST])
        assert {n: sha256(zf.read(n)) for n in FILES} == {p: sha256(d) for p, d in FILES.items()}

    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    refused = run("bundle", "push", "m", str(bad), "--version", "2.0")
    assert refused.returncode == 1 and "body: expected a zip archive" in refused.stderr


class _FullDisk(LocalBlobStore):
    """A real local blob store whose disk fills up after ``room`` bytes."""

    room = 300_000

    def writer(self) -> LocalBlobWriter:
        store = self
        writer = super().writer()
        write = writer.write

        def limited(data: bytes) -> None:
            if len(data) > store.room:
                raise OSError(28, "No space left on device")
            store.room -= len(data)
            write(data)

        writer.write = limited  # type: ignore[method-assign]
        return writer


def test_member_failing_midway_leaves_no_file_rows(registry: Any) -> None:
    service = registry.service
    service.blobs = _FullDisk(registry.blob_root)
    service.create_model(registry.admin, name="m")
    service.create_version(registry.admin, "default", "m")
    archive = io.BytesIO(make_zip([("a.bin", bytes(200_000)), ("b.bin", b"\1" * 200_000)]))
    bundles = Bundles(service, BundleLimits())
    with pytest.raises(OSError, match="No space"):
        bundles.upload(registry.admin, "default", "m", "1", archive)
    assert service.list_files(registry.admin, "default", "m", "1") == []
    assert registry.tmp_files() == []
    # a.bin's blob was written before the failure: unreferenced, it is left to gc.
    assert [p.name for p in registry.blob_files()] == [sha256(bytes(200_000))]
