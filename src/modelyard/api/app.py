"""create_app(settings, service) -> the ASGI app. No import-time globals."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import modelyard
from modelyard.api import errors
from modelyard.api.context import bound, request_id
from modelyard.api.deps import CallerDep
from modelyard.api.fastpath import PredictFastPath
from modelyard.api.limits import MAX_JSON_BODY, BodyLimitMiddleware
from modelyard.api.routes import (
    access,
    admin,
    audit,
    bundles,
    deployments,
    events,
    files,
    inference,
    models,
    tasks,
    templates,
    uploads,
    users,
    versions,
)
from modelyard.api.routes import keys as key_routes
from modelyard.api.routes import webhooks as webhook_routes
from modelyard.dialects import deepdev, oci, opensearch
from modelyard.dispatcher import Dispatcher
from modelyard.domain.bundles import BundleLimits, Bundles
from modelyard.domain.checks import VersionChecks
from modelyard.domain.imports import ImportService
from modelyard.domain.keys import ApiKeys
from modelyard.domain.service import RegistryService
from modelyard.domain.uploads import UploadSessions
from modelyard.domain.webhooks import Webhooks
from modelyard.errors import PermissionDenied
from modelyard.runner import TaskRunner
from modelyard.serving.gateway import Gateway


def create_app(
    service: RegistryService,
    upload_sessions: UploadSessions | None = None,
    imports: ImportService | None = None,
    runner: TaskRunner | None = None,
    bundle_limits: BundleLimits | None = None,
    checks: VersionChecks | None = None,
    gateway: Gateway | None = None,
    max_predict_body: int | None = None,
    webhooks: Webhooks | None = None,
    dispatcher: Dispatcher | None = None,
    keys: ApiKeys | None = None,
) -> FastAPI:
    """The app; ``upload_sessions`` enables the resumable upload routes (else they answer 409),
    ``imports`` the URL imports and tasks, run by ``runner`` while the app is up, ``checks``
    the version checks (run by the same runner), ``gateway`` the deployments and predictions
    (their serving backend runs while the app is up),
    ``webhooks`` the event stream and webhooks (delivered by ``dispatcher`` while it is up),
    ``keys`` the signing keys (and so the OCI dialect's signed requests)."""
    app = FastAPI(
        title="modelyard",
        version=modelyard.__version__,
        description="Model registry: models, versions, files, metrics and tags. Foreign "
        "platforms' APIs have their own schemas: DeepDev's at "
        "[/api/v1.0/docs](/api/v1.0/docs), OpenSearch ML Commons' at "
        "[/_plugins/_ml/docs](/_plugins/_ml/docs), OCI Data Science's model catalog at "
        "[/20190101/docs](/20190101/docs).",
        openapi_url="/openapi.json",
        lifespan=webhook_routes.running(
            dispatcher, tasks.running(runner, gateway.serving if gateway is not None else None)
        ),
    )
    app.state.service = service
    app.state.bundles = Bundles(service, bundle_limits or BundleLimits())
    app.state.uploads = upload_sessions
    app.state.imports = imports
    app.state.checks = checks
    app.state.gateway = gateway
    app.state.webhooks = webhooks
    app.state.keys = keys
    app.state.deployments = gateway.deployments if gateway is not None else None
    errors.install(app)

    app.add_middleware(
        BodyLimitMiddleware,
        max_predict_body=max_predict_body,
        foreign={
            deepdev.PREFIX: deepdev.too_large,
            opensearch.PREFIX: opensearch.too_large,
            oci.PREFIX: oci.too_large,
        },
    )
    app.add_middleware(RequestIdMiddleware)
    if gateway is not None:  # outermost: it answers most predictions by itself
        app.add_middleware(PredictFastPath, max_body=max_predict_body or MAX_JSON_BODY)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness; the only route besides the docs that needs no token."""
        return {"status": "ok"}

    if gateway is not None:
        metrics = gateway.metrics

        @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
        async def prometheus(caller: CallerDep) -> PlainTextResponse:
            """(Admins) serving metrics in the Prometheus text format: predictions by outcome,
            latency histograms, restarts and ready replicas per deployment."""
            if not caller.user.is_admin:
                raise PermissionDenied("only admins may read /metrics")
            return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    routers = (
        models,
        versions,
        files,
        bundles,
        uploads,
        users,
        key_routes,
        access,
        audit,
        admin,
        tasks,
        templates,
    )
    # Predictions first: routes are matched in order, and they are the hot path.
    for module in (deployments, inference, *routers):
        app.include_router(module.router)
    app.include_router(events.router)
    app.include_router(webhook_routes.router)
    app.mount(deepdev.PREFIX, deepdev.create_deepdev_app(app))
    app.mount(opensearch.PREFIX, opensearch.create_opensearch_app(app))
    app.mount(oci.PREFIX, oci.create_oci_app(app))
    return app


class RequestIdMiddleware:
    """Gives every request an id (the client's ``X-Request-ID`` if sent), kept in
    ``request.state.request_id`` and echoed in the response headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(dict(scope.get("headers", [])).get(b"x-request-id", b""))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        with bound(scope, rid):
            await self.app(scope, receive, send_with_id)
