"""The ``modelyard`` command."""

from __future__ import annotations

from pathlib import Path

import click

from modelyard.config import Settings


@click.group()
@click.version_option(package_name="modelyard")
def main() -> None:
    """modelyard: a self-hosted model registry."""


@main.command()
@click.option("--home", type=click.Path(path_type=Path), help="Data directory [MODELYARD_HOME].")
@click.option("--host", help="Bind address [MODELYARD_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [MODELYARD_PORT, default 8700].")
@click.option("--database-url", help="Metadata database URL [MODELYARD_DATABASE_URL].")
@click.option("--blob-url", help="Blob store URL, file:///path [MODELYARD_BLOB_URL].")
@click.option("--log-level", default="info", show_default=True)
def server(
    home: Path | None,
    host: str | None,
    port: int | None,
    database_url: str | None,
    blob_url: str | None,
    log_level: str,
) -> None:
    """Run the registry server (migrates the database on start)."""
    import uvicorn

    from modelyard.server import build_app

    overrides = {
        k: v
        for k, v in {
            "home": home,
            "host": host,
            "port": port,
            "database_url": database_url,
            "blob_url": blob_url,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    app = build_app(settings)
    click.echo(
        f"modelyard serving on http://{settings.host}:{settings.port} "
        f"(home {settings.home}, admin token in {settings.token_file})",
        err=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)
