"""Garbage collection: the service rule, the admin API call and ``modelyard gc``."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from blob_support import SeaweedFS
from click.testing import CliRunner

from modelyard.blobs.local import LocalBlobStore
from modelyard.cli.main import main as cli
from modelyard.config import Settings
from modelyard.domain.gc import collect_garbage
from modelyard.server import build_service

TWO_HOURS_AGO = time.time() - 7200


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_blob(store: Any, data: bytes) -> str:
    w = store.writer()
    w.write(data)
    return str(w.commit(expected_sha256=None, expected_size=None).sha256)


def age(store: LocalBlobStore, digest: str) -> None:
    """Make a local blob look two hours old (older than the default one-hour grace)."""
    os.utime(store.path_for(digest), (TWO_HOURS_AGO, TWO_HOURS_AGO))


def test_gc_removes_only_old_unreferenced_blobs(registry: Any) -> None:
    service, admin = registry.service, registry.admin
    service.create_model(admin, name="m")
    service.upload_file(admin, "default", "m", None, "weights.bin", [b"referenced"])
    orphan = put_blob(service.blobs, b"orphan")
    fresh = put_blob(service.blobs, b"fresh orphan")
    age(service.blobs, sha(b"referenced"))
    age(service.blobs, orphan)

    dry = service.collect_garbage(admin, dry_run=True)
    assert (dry.dry_run, dry.removed, dry.freed_bytes) == (True, 1, len(b"orphan"))
    assert [b.sha256 for b in dry.blobs] == [orphan]
    assert service.blobs.exists(orphan)  # a dry run removes nothing

    done = service.collect_garbage(admin)
    assert (done.dry_run, done.removed, done.freed_bytes) == (False, 1, len(b"orphan"))
    assert not service.blobs.exists(orphan)
    assert service.blobs.exists(fresh)  # within the grace period
    assert service.blobs.exists(sha(b"referenced"))
    assert b"".join(service.read_file(service.get_file(admin, "default", "m", None, "weights.bin")))
    assert service.collect_garbage(admin).removed == 0


def test_dedup_onto_an_old_blob_protects_it(registry: Any) -> None:
    """An upload that finds its bytes already stored refreshes them, so a collection running
    before its file row is written cannot remove them."""
    blobs = registry.service.blobs
    digest = put_blob(blobs, b"shared bytes")
    age(blobs, digest)
    assert put_blob(blobs, b"shared bytes") == digest
    assert registry.service.collect_garbage(registry.admin).removed == 0
    assert blobs.exists(digest)


def test_gc_on_s3(registry: Any, seaweedfs: SeaweedFS) -> None:
    service, admin = registry.service, registry.admin
    service.blobs = seaweedfs.store()
    service.create_model(admin, name="m")
    service.upload_file(admin, "default", "m", None, "weights.bin", [b"referenced"])
    orphan = put_blob(service.blobs, b"orphan")
    later = datetime.now(UTC) + timedelta(seconds=5)  # every blob is past a zero grace

    dry = collect_garbage(service.store, service.blobs, now=later, grace=timedelta(0), dry_run=True)
    assert [(b.sha256, b.size) for b in dry.blobs] == [(orphan, len(b"orphan"))]
    assert service.blobs.exists(orphan)
    done = collect_garbage(service.store, service.blobs, now=later, grace=timedelta(0))
    assert (done.removed, done.freed_bytes) == (1, len(b"orphan"))
    assert not service.blobs.exists(orphan)
    assert service.blobs.exists(sha(b"referenced"))
    assert seaweedfs.keys(service.blobs.prefix) == [service.blobs.key_for(sha(b"referenced"))]


# -- the admin API --------------------------------------------------------------------------

GC = "/api/v1/admin/gc"
MODEL = "/api/v1/models/default/m"


def test_admin_gc_api(api: Any, assert_problem: Any) -> None:
    admin = api.admin
    assert admin.post("/api/v1/models", json={"name": "m"}).status_code == 201
    assert admin.post(f"{MODEL}/versions", json={"version": "1"}).status_code == 201
    assert admin.put(f"{MODEL}/versions/1/files/a.bin", content=b"version bytes").status_code == 201
    digest = sha(b"version bytes")
    age(api.service.blobs, digest)
    r = admin.post(GC, params={"dry_run": "true"})
    assert r.status_code == 200, r.text
    assert r.json() == {"removed": 0, "freed_bytes": 0, "dry_run": True, "blobs": []}

    assert admin.delete(f"{MODEL}/versions/1").status_code == 204  # its file goes with it
    r = admin.post(GC, params={"dry_run": "true"})
    body = r.json()
    assert (body["removed"], body["freed_bytes"], body["dry_run"]) == (1, 13, True)
    assert [(b["sha256"], b["size"]) for b in body["blobs"]] == [(digest, 13)]
    assert api.service.blobs.exists(digest)

    r = admin.post(GC)
    assert r.status_code == 200, r.text
    assert (r.json()["removed"], r.json()["dry_run"]) == (1, False)
    assert not api.service.blobs.exists(digest)

    assert_problem(api.client_for("alice").post(GC), 403, "PERMISSION_DENIED")
    assert_problem(api.anon.post(GC), 401, "UNAUTHENTICATED")
    assert_problem(admin.post(GC, params={"dry_run": "maybe"}), 422, "INVALID_ARGUMENT", "dry_run")


# -- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MODELYARD_DATABASE_URL", "MODELYARD_BLOB_URL", "MODELYARD_GC_GRACE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def test_cli_gc(home: Path) -> None:
    service = build_service(Settings(home=home))
    orphan = put_blob(service.blobs, b"orphan bytes")
    age(service.blobs, orphan)
    runner = CliRunner()

    kept = runner.invoke(cli, ["gc", "--home", str(home), "--grace", "86400"])
    assert kept.exit_code == 0, kept.output
    assert "removed 0 blobs, 0 bytes" in kept.output

    dry = runner.invoke(cli, ["gc", "--home", str(home), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert (report["removed"], report["freed_bytes"], report["dry_run"]) == (1, 12, True)
    assert service.blobs.exists(orphan)

    done = runner.invoke(cli, ["gc", "--home", str(home)])
    assert done.exit_code == 0, done.output
    assert orphan in done.output and "removed 1 blobs, 12 bytes" in done.output
    assert not service.blobs.exists(orphan)
