"""Garbage collection of blobs: mark and sweep, safe against concurrent uploads.

A blob is live when any file row (of any model or version, in any state) names its SHA-256.
A blob that is not live is removed only if it was last modified before ``now - grace``:

- a blob an upload is still writing sits under a temporary name and is never listed;
- a blob an upload has just published or deduplicated onto has a fresh modification time
  (both backends refresh it on commit) until its file row is written;
- the blob listing is taken *before* the mark, and each removal checks the modification time
  again, so an upload that deduplicates onto an old blob while the collection runs keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from modelyard.domain.ports import BlobStore, MetadataStore, StoredBlob


@dataclass(frozen=True, kw_only=True)
class GcReport:
    """What a collection removed (or, in a dry run, would remove)."""

    dry_run: bool
    blobs: list[StoredBlob]

    @property
    def removed(self) -> int:
        return len(self.blobs)

    @property
    def freed_bytes(self) -> int:
        return sum(b.size for b in self.blobs)


def collect_garbage(
    store: MetadataStore,
    blobs: BlobStore,
    *,
    now: datetime,
    grace: timedelta,
    dry_run: bool = False,
) -> GcReport:
    """Remove every blob no file references that is older than ``grace``."""
    cutoff = now - grace
    listed = [b for b in blobs.iter_blobs() if b.modified_at < cutoff]
    live = store.referenced_blobs()
    candidates = [b for b in listed if b.sha256 not in live]
    if dry_run:
        return GcReport(dry_run=True, blobs=candidates)
    removed = [b for b in candidates if blobs.delete(b.sha256, modified_before=cutoff)]
    return GcReport(dry_run=False, blobs=removed)
