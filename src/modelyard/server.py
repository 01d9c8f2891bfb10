"""Wiring: settings -> engine, stores, service -> app; first-start bootstrap."""

from __future__ import annotations

import functools
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI

from modelyard.api.app import create_app
from modelyard.blobs import open_blob_store
from modelyard.config import Settings
from modelyard.dispatcher import Dispatcher, HttpSender
from modelyard.domain.audit import Auditor
from modelyard.domain.bundles import BundleLimits
from modelyard.domain.checks import VersionChecks
from modelyard.domain.deployments import DeploymentService, ServingBackend
from modelyard.domain.directory import FailedAuthLimiter
from modelyard.domain.imports import ImportService
from modelyard.domain.keys import ApiKeys
from modelyard.domain.service import RegistryService
from modelyard.domain.tasks import TaskKind
from modelyard.domain.uploads import UploadSessions
from modelyard.domain.webhooks import RetryPolicy, Webhooks
from modelyard.imports.guard import AddressPolicy
from modelyard.imports.sources import UrlFetcher
from modelyard.runner import TaskRunner
from modelyard.runtime.sandbox import check_bundle
from modelyard.serving.gateway import Gateway
from modelyard.serving.local import LocalBackend
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.reconciler import Backend, Serving
from modelyard.store.audit import SqlAuditStore
from modelyard.store.deployments import SqlDeploymentStore
from modelyard.store.engine import make_engine, migrate
from modelyard.store.keys import SqlKeyStore
from modelyard.store.sessions import SqlUploadSessionStore
from modelyard.store.sql import SqlMetadataStore
from modelyard.store.tasks import SqlTaskStore
from modelyard.store.webhooks import SqlWebhookStore


def build_service(settings: Settings) -> RegistryService:
    """Open (and migrate) the metadata database and the blob store named by ``settings``."""
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    store = SqlMetadataStore(engine)
    return RegistryService(
        store,
        open_blob_store(settings),
        gc_grace=timedelta(seconds=settings.gc_grace_seconds),
        auditor=Auditor(SqlAuditStore(store), clock=lambda: datetime.now(UTC)),
        auth_limiter=FailedAuthLimiter(
            limit=settings.auth_failure_limit, window=settings.auth_failure_window_seconds
        ),
    )


def _sql_store(service: RegistryService) -> SqlMetadataStore:
    """The SQL store of a service built by :func:`build_service`: sessions and tasks live in
    the same database and write through its single writer."""
    assert isinstance(service.store, SqlMetadataStore)
    return service.store


def write_token_file(path: Path, token: str) -> None:
    """Write the token readable by its owner only (0600), never briefly wider."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)


def bootstrap(settings: Settings, service: RegistryService) -> bool:
    """On first start create the admin user and write its token; True if it did."""
    token = service.bootstrap_admin()
    if token is None:
        return False
    write_token_file(settings.token_file, token)
    return True


def build_app(settings: Settings) -> FastAPI:
    service = build_service(settings)
    bootstrap(settings, service)
    # Bundle uploads spool under home: on disk, where /tmp may be memory.
    limits = BundleLimits(max_total_size=settings.bundle_max_size, spool_dir=settings.home)
    tasks = SqlTaskStore(_sql_store(service))
    # Two threads: a deploy does not wait behind a long check or import.
    runner = TaskRunner(tasks, threads=2)
    webhooks, dispatcher = build_webhooks(settings, service)
    app = create_app(
        service,
        build_upload_sessions(settings, service),
        imports=build_imports(settings, service, tasks, runner),
        runner=runner,
        bundle_limits=limits,
        checks=build_checks(settings, service, tasks, runner),
        gateway=build_serving(settings, service, tasks, runner),
        max_predict_body=settings.serving_max_payload_bytes,
        webhooks=webhooks,
        dispatcher=dispatcher,
        keys=ApiKeys(service, SqlKeyStore(_sql_store(service))),
    )
    if settings.grpc_port is not None:
        serve_grpc(app, settings, service, webhooks)
    return app


def serve_grpc(
    app: FastAPI, settings: Settings, service: RegistryService, webhooks: Webhooks
) -> None:
    """Answer ModelBox's gRPC API on ``grpc_port`` while the app runs."""
    try:
        from modelyard.grpc import server as grpc_server
    except ImportError as exc:
        raise SystemExit(
            f"MODELYARD_GRPC_PORT is set but grpcio is not installed ({exc}): "
            "pip install 'modelyard[grpc]'"
        ) from None
    server = grpc_server.build_grpc_server(settings, service, webhooks)
    app.router.lifespan_context = grpc_server.running(server, app.router.lifespan_context)


def build_webhooks(settings: Settings, service: RegistryService) -> tuple[Webhooks, Dispatcher]:
    """The event stream and webhooks; deliveries go where URL imports may (the same SSRF
    guard and allowlist), retried on the settings' schedule."""
    policy = AddressPolicy.parse(settings.import_allowed_hosts)
    retry = RetryPolicy(
        base=settings.webhook_retry_base_seconds,
        cap=settings.webhook_retry_max_seconds,
        max_attempts=settings.webhook_max_attempts,
    )
    webhooks = Webhooks(service, SqlWebhookStore(_sql_store(service)), policy=policy, retry=retry)
    sender = HttpSender(policy, timeout=retry.timeout)
    return webhooks, Dispatcher(webhooks, sender, on_close=sender.close)


def build_upload_sessions(settings: Settings, service: RegistryService) -> UploadSessions:
    """Upload sessions staged under ``home/uploads``; expired ones are cleaned right away."""
    sessions = UploadSessions(
        service,
        SqlUploadSessionStore(_sql_store(service)),
        settings.home / "uploads",
        ttl=timedelta(seconds=settings.upload_session_ttl_seconds),
    )
    sessions.clean_expired()
    return sessions


def build_imports(
    settings: Settings, service: RegistryService, tasks: SqlTaskStore, runner: TaskRunner
) -> ImportService:
    """URL imports under the admin's SSRF allowlist and source settings, carried out by
    ``runner``."""
    secret = settings.s3_secret_key
    s3_options = {
        "endpoint_url": settings.s3_endpoint,
        "aws_access_key_id": settings.s3_access_key,
        "aws_secret_access_key": secret.get_secret_value() if secret else None,
        "region_name": settings.s3_region,
    }
    fetcher = UrlFetcher(
        policy=AddressPolicy.parse(settings.import_allowed_hosts),
        allow_file_urls=settings.import_allow_file_urls,
        max_bytes=settings.import_max_bytes,
        s3_options={k: v for k, v in s3_options.items() if v is not None},
    )
    limits = BundleLimits(max_total_size=settings.bundle_max_size, spool_dir=settings.home)
    imports = ImportService(service, tasks, fetcher, wake=runner.wake, bundle_limits=limits)
    runner.handle(TaskKind.IMPORT_FILES, imports.run)
    return imports


def build_checks(
    settings: Settings, service: RegistryService, tasks: SqlTaskStore, runner: TaskRunner
) -> VersionChecks:
    """Version checks in worker processes under the settings' limits; environments for
    requirements the server's own environment lacks are built under ``home/envs``."""
    scratch = settings.home / "checks"
    shutil.rmtree(scratch, ignore_errors=True)  # left by a server that died mid-check
    scratch.mkdir(parents=True)
    checker = functools.partial(
        check_bundle,
        timeout=settings.check_timeout_seconds,
        memory_mb=settings.check_memory_mb,
        environments=settings.home / "envs",
    )
    checks = VersionChecks(
        service,
        tasks,
        checker,
        on_finish=settings.check_on_finish,
        scratch_dir=scratch,
        wake=runner.wake,
    )
    runner.handle(TaskKind.CHECK_VERSION, checks.run)
    return checks


def build_serving(
    settings: Settings, service: RegistryService, tasks: SqlTaskStore, runner: TaskRunner
) -> Gateway:
    """Deployments in the database, deployed by ``runner``'s DEPLOY tasks and served by worker
    processes on this server (the local backend) and, given ``ray_address``, on a Ray
    cluster (the Ray backend)."""
    if settings.serving_backend == ServingBackend.RAY and settings.ray_address is None:
        raise SystemExit(
            "MODELYARD_SERVING_BACKEND=ray needs the cluster's address: set "
            "MODELYARD_RAY_ADDRESS (or --ray-address) to HOST:PORT of its head node"
        )
    kinds = (ServingBackend.LOCAL,)
    if settings.ray_address is not None:
        kinds = (ServingBackend.LOCAL, ServingBackend.RAY)
    deployments = DeploymentService(
        service,
        SqlDeploymentStore(_sql_store(service)),
        tasks,
        default_backend=settings.serving_backend,
        backends=kinds,
        wake=runner.wake,
    )
    runner.handle(TaskKind.DEPLOY, deployments.run)
    backends: list[Backend] = [LocalBackend(service, home=settings.home)]
    if settings.ray_address is not None:
        try:
            from modelyard.serving.ray_backend import RayBackend
        except ImportError as exc:
            raise SystemExit(
                f"MODELYARD_RAY_ADDRESS is set but Ray Serve is not installed ({exc}): "
                "pip install 'modelyard[ray]'"
            ) from None
        backends.append(
            RayBackend(service, deployments.store, home=settings.home, address=settings.ray_address)
        )
    metrics = ServingMetrics()
    serving = Serving(
        deployments,
        backends,
        metrics=metrics,
        ready_timeout=settings.deploy_ready_timeout_seconds,
    )
    return Gateway(deployments, serving, metrics)
