"""The ``modelyard`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import httpx

from modelyard.cli import (
    access,
    bundles,
    deployments,
    gc,
    keys,
    metrics,
    models,
    tags,
    tasks,
    template,
    transfer,
    users,
    verify,
    versions,
    webhooks,
)
from modelyard.cli._common import Env
from modelyard.config import Settings
from modelyard.errors import RegistryError


class _Main(click.Group):
    """Turns registry and connection errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RegistryError as exc:
            fields = "".join(f"\n  {e.field}: {e.message}" for e in exc.errors)
            raise click.ClickException(f"{exc.message} [{exc.code}]{fields}") from None
        except httpx.TransportError as exc:
            url = ctx.obj.client.url if isinstance(ctx.obj, Env) else "the server"
            raise click.ClickException(f"cannot reach {url}: {exc}") from None


@click.group(cls=_Main)
@click.version_option(package_name="modelyard")
@click.option(
    "--url", envvar="MODELYARD_URL", help="Server [MODELYARD_URL, http://127.0.0.1:8700]."
)
@click.option(
    "--token",
    envvar="MODELYARD_TOKEN",
    help="API token [MODELYARD_TOKEN, else the file $MODELYARD_HOME/token].",
)
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None) -> None:
    """modelyard: a self-hosted model registry."""
    env = Env(url=url, token=token)
    ctx.obj = env
    ctx.call_on_close(env.close)


@main.command()
@click.option("--home", type=click.Path(path_type=Path), help="Data directory [MODELYARD_HOME].")
@click.option("--host", help="Bind address [MODELYARD_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [MODELYARD_PORT, default 8700].")
@click.option("--database-url", help="Metadata database URL [MODELYARD_DATABASE_URL].")
@click.option(
    "--blob-url", help="Blob store URL, file:///path or s3://bucket/prefix [MODELYARD_BLOB_URL]."
)
@click.option("--s3-endpoint", help="S3 endpoint URL [MODELYARD_S3_ENDPOINT].")
@click.option("--s3-access-key", help="S3 access key id [MODELYARD_S3_ACCESS_KEY].")
@click.option(
    "--s3-secret-key", help="S3 secret key [MODELYARD_S3_SECRET_KEY; prefer the variable]."
)
@click.option("--s3-region", help="S3 region [MODELYARD_S3_REGION].")
@click.option(
    "--gc-grace-seconds",
    type=click.IntRange(min=0),
    help="Age before gc may remove an unreferenced blob [MODELYARD_GC_GRACE_SECONDS, 3600].",
)
@click.option(
    "--upload-session-ttl-seconds",
    type=click.IntRange(min=1),
    help="Lifetime of a resumable upload session [MODELYARD_UPLOAD_SESSION_TTL_SECONDS, 86400].",
)
@click.option(
    "--bundle-max-size",
    type=click.IntRange(min=1),
    help="Largest uncompressed size of an uploaded zip bundle in bytes "
    "[MODELYARD_BUNDLE_MAX_SIZE, 64 GiB].",
)
@click.option(
    "--import-allowed-hosts",
    help="Hosts, IPs and CIDRs (comma-separated) URL imports may reach although private "
    "[MODELYARD_IMPORT_ALLOWED_HOSTS].",
)
@click.option(
    "--import-allow-file-urls/--no-import-allow-file-urls",
    default=None,
    help="Allow file:// imports from the server's disk [MODELYARD_IMPORT_ALLOW_FILE_URLS, off].",
)
@click.option(
    "--import-max-bytes",
    type=click.IntRange(min=1),
    help="Largest file a URL import fetches [MODELYARD_IMPORT_MAX_BYTES, 1 TiB].",
)
@click.option(
    "--check-on-finish/--no-check-on-finish",
    default=None,
    help="Check versions in a worker process when they become READY "
    "[MODELYARD_CHECK_ON_FINISH, on].",
)
@click.option(
    "--check-timeout-seconds",
    type=click.IntRange(min=1),
    help="Time a version's check run may take [MODELYARD_CHECK_TIMEOUT_SECONDS, 300].",
)
@click.option(
    "--check-memory-mb",
    type=click.IntRange(min=256),
    help="Memory limit of a check worker in MiB [MODELYARD_CHECK_MEMORY_MB, 4096].",
)
@click.option(
    "--serving-backend",
    type=click.Choice(["local", "ray"]),
    help="Where deployments run [MODELYARD_SERVING_BACKEND, local].",
)
@click.option(
    "--ray-address",
    metavar="HOST:PORT",
    help="A Ray cluster's head node, for deployments with backend ray [MODELYARD_RAY_ADDRESS].",
)
@click.option(
    "--serving-max-payload-bytes",
    type=click.IntRange(min=1),
    help="Largest prediction request body [MODELYARD_SERVING_MAX_PAYLOAD_BYTES, 16 MiB].",
)
@click.option(
    "--deploy-ready-timeout-seconds",
    type=click.IntRange(min=1),
    help="Time replicas may take to load a model [MODELYARD_DEPLOY_READY_TIMEOUT_SECONDS, 300].",
)
@click.option(
    "--auth-failure-limit",
    type=click.IntRange(min=0),
    help="Failed authentications per client address and window before 429 "
    "[MODELYARD_AUTH_FAILURE_LIMIT, 20; 0 = no limit].",
)
@click.option(
    "--auth-failure-window-seconds",
    type=click.IntRange(min=1),
    help="The window of --auth-failure-limit [MODELYARD_AUTH_FAILURE_WINDOW_SECONDS, 60].",
)
@click.option(
    "--webhook-retry-base-seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="First wait before retrying a failed webhook delivery "
    "[MODELYARD_WEBHOOK_RETRY_BASE_SECONDS, 5].",
)
@click.option(
    "--webhook-retry-max-seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Longest wait between webhook delivery attempts "
    "[MODELYARD_WEBHOOK_RETRY_MAX_SECONDS, 3600].",
)
@click.option(
    "--webhook-max-attempts",
    type=click.IntRange(min=1),
    help="Attempts before a webhook delivery is FAILED [MODELYARD_WEBHOOK_MAX_ATTEMPTS, 12].",
)
@click.option(
    "--grpc-port",
    type=click.IntRange(min=1, max=65535),
    help="Serve ModelBox's gRPC API on this port, same host [MODELYARD_GRPC_PORT, off].",
)
@click.option(
    "--grpc-anonymous-namespaces",
    help="Namespaces (comma-separated) where gRPC calls without a token are allowed, as "
    "user grpc-anonymous [MODELYARD_GRPC_ANONYMOUS_NAMESPACES, none].",
)
@click.option(
    "--grpc-max-message-bytes",
    type=click.IntRange(min=1024),
    help="Largest gRPC message, in bytes [MODELYARD_GRPC_MAX_MESSAGE_BYTES, 4194304].",
)
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Log one line per HTTP request (costs about a sixth of a small request's time).",
)
def server(
    home: Path | None,
    host: str | None,
    port: int | None,
    database_url: str | None,
    blob_url: str | None,
    s3_endpoint: str | None,
    s3_access_key: str | None,
    s3_secret_key: str | None,
    s3_region: str | None,
    gc_grace_seconds: int | None,
    upload_session_ttl_seconds: int | None,
    bundle_max_size: int | None,
    import_allowed_hosts: str | None,
    import_allow_file_urls: bool | None,
    import_max_bytes: int | None,
    check_on_finish: bool | None,
    check_timeout_seconds: int | None,
    check_memory_mb: int | None,
    serving_backend: str | None,
    ray_address: str | None,
    serving_max_payload_bytes: int | None,
    deploy_ready_timeout_seconds: int | None,
    auth_failure_limit: int | None,
    auth_failure_window_seconds: int | None,
    webhook_retry_base_seconds: float | None,
    webhook_retry_max_seconds: float | None,
    webhook_max_attempts: int | None,
    grpc_port: int | None,
    grpc_anonymous_namespaces: str | None,
    grpc_max_message_bytes: int | None,
    log_level: str,
    access_log: bool,
) -> None:
    """Run the registry server (migrates the database on start)."""
    import uvicorn

    from modelyard.server import build_app

    overrides = {
        k: v
        for k, v in {
            "home": home,
            "bundle_max_size": bundle_max_size,
            "host": host,
            "port": port,
            "database_url": database_url,
            "blob_url": blob_url,
            "s3_endpoint": s3_endpoint,
            "s3_access_key": s3_access_key,
            "s3_secret_key": s3_secret_key,
            "s3_region": s3_region,
            "gc_grace_seconds": gc_grace_seconds,
            "upload_session_ttl_seconds": upload_session_ttl_seconds,
            "import_allowed_hosts": import_allowed_hosts,
            "import_allow_file_urls": import_allow_file_urls,
            "import_max_bytes": import_max_bytes,
            "check_on_finish": check_on_finish,
            "check_timeout_seconds": check_timeout_seconds,
            "check_memory_mb": check_memory_mb,
            "serving_backend": serving_backend,
            "ray_address": ray_address,
            "serving_max_payload_bytes": serving_max_payload_bytes,
            "deploy_ready_timeout_seconds": deploy_ready_timeout_seconds,
            "auth_failure_limit": auth_failure_limit,
            "auth_failure_window_seconds": auth_failure_window_seconds,
            "webhook_retry_base_seconds": webhook_retry_base_seconds,
            "webhook_retry_max_seconds": webhook_retry_max_seconds,
            "webhook_max_attempts": webhook_max_attempts,
            "grpc_port": grpc_port,
            "grpc_anonymous_namespaces": grpc_anonymous_namespaces,
            "grpc_max_message_bytes": grpc_max_message_bytes,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    app = build_app(settings)
    click.echo(
        f"modelyard serving on http://{settings.host}:{settings.port} "
        f"(home {settings.home}"
        + (f", admin token in {settings.token_file})" if settings.token_file.exists() else ")"),
        err=True,
    )
    if settings.grpc_port is not None:
        click.echo(f"gRPC (ModelBox) on {settings.host}:{settings.grpc_port}", err=True)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=log_level, access_log=access_log
    )


for _command in (
    models.models,
    versions.versions,
    transfer.push,
    transfer.pull,
    bundles.bundle,
    metrics.metrics,
    tags.tags,
    users.users,
    users.tokens,
    keys.keys,
    access.teams,
    access.namespaces,
    access.audit,
    webhooks.webhooks,
    webhooks.events,
    gc.gc,
    tasks.import_files,
    tasks.tasks,
    template.template,
    verify.verify,
    deployments.deploy,
    deployments.predict,
    deployments.deployments,
):
    main.add_command(_command)
