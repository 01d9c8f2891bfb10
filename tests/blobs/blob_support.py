"""Helpers of the blob-store tests: a backend under test, and (from tests/seaweedfs_support.py)
the SeaweedFS handle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.blobs.local import LocalBlobStore
from seaweedfs_support import S3_PART, SeaweedFS

__all__ = ["S3_PART", "Backend", "SeaweedFS", "local_backend"]


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
