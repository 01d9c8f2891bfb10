"""Blob-store fixtures: ``backend``, a fresh store on each backend (a local directory, then a
prefix on the session's SeaweedFS from tests/seaweedfs_support.py), with a way to list what it
left."""

from __future__ import annotations

from pathlib import Path

import pytest
from blob_support import Backend, SeaweedFS, local_backend


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A fresh, empty blob store: a local directory, then a prefix on SeaweedFS."""
    if request.param == "local":
        return local_backend(tmp_path)
    seaweed: SeaweedFS = request.getfixturevalue("seaweedfs")
    store = seaweed.store()
    return Backend(name="s3", store=store, leftovers=lambda: seaweed.keys(store.prefix))
