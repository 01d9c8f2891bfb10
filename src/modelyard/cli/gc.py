"""``modelyard gc``: collect unreferenced blobs, run by the operator on the server's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from modelyard.api.schemas import GcOut
from modelyard.cli._common import json_option, print_json, print_table
from modelyard.config import Settings
from modelyard.domain.gc import collect_garbage


@click.command()
@click.option("--home", type=click.Path(path_type=Path), help="Data directory [MODELYARD_HOME].")
@click.option("--database-url", help="Metadata database URL [MODELYARD_DATABASE_URL].")
@click.option("--blob-url", help="Blob store URL [MODELYARD_BLOB_URL].")
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    help="Keep unreferenced blobs younger than this many seconds "
    "[MODELYARD_GC_GRACE_SECONDS, default 3600].",
)
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@json_option
def gc(
    home: Path | None,
    database_url: str | None,
    blob_url: str | None,
    grace: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove blobs that no file references any more (opens the database and blob store
    directly, like ``server``; safe while servers are running)."""
    from modelyard.server import build_service

    overrides = {
        k: v
        for k, v in {
            "home": home,
            "database_url": database_url,
            "blob_url": blob_url,
            "gc_grace_seconds": grace,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    service = build_service(settings)
    report = collect_garbage(
        service.store,
        service.blobs,
        now=datetime.now(UTC),
        grace=timedelta(seconds=settings.gc_grace_seconds),
        dry_run=dry_run,
    )
    out = GcOut.from_report(report)
    if as_json:
        print_json(out)
        return
    if out.blobs:
        print_table(out.blobs, ("sha256", "size", "modified_at"))
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {out.removed} blobs, {out.freed_bytes} bytes")
