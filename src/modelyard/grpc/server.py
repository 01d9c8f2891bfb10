"""The gRPC server: grpcio's synchronous server, a pool of threads calling the synchronous
service layer, in the API server's process; started and stopped with the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import grpc
from starlette.concurrency import run_in_threadpool

from modelyard.config import Settings
from modelyard.domain.service import RegistryService
from modelyard.domain.tracking import Tracking
from modelyard.domain.webhooks import Webhooks
from modelyard.errors import RegistryError
from modelyard.grpc._generated.modelbox import service_pb2 as pb
from modelyard.grpc.servicer import Endpoints, ModelStore
from modelyard.store.sql import SqlMetadataStore
from modelyard.store.tracking import SqlTrackingStore

#: Threads answering calls; a WatchNamespace stream holds one while it lasts, so at most
#: half of them watch.
WORKERS = 16
#: Seconds calls in flight get to end when the server stops.
STOP_GRACE = 5.0

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]

_KINDS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def model_store_handler(servicer: ModelStore) -> grpc.GenericRpcHandler:
    """``modelbox.ModelStore``'s methods, each bound to the servicer method of its name, with
    its kind (streaming or not) and message classes read from the service descriptor."""
    service = pb.DESCRIPTOR.services_by_name["ModelStore"]
    handlers = {}
    for method in service.methods:
        request = getattr(pb, method.input_type.name)
        response = getattr(pb, method.output_type.name)
        make = _KINDS[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def anonymous_namespaces(settings: Settings) -> list[str]:
    return [ns.strip() for ns in settings.grpc_anonymous_namespaces.split(",") if ns.strip()]


def build_grpc_server(
    settings: Settings, service: RegistryService, webhooks: Webhooks
) -> grpc.Server:
    """The server, bound to ``host:grpc_port`` (not yet started)."""
    assert settings.grpc_port is not None
    assert isinstance(service.store, SqlMetadataStore)
    namespaces = anonymous_namespaces(settings)
    try:
        anonymous = service.anonymous_caller(namespaces) if namespaces else None
    except RegistryError as exc:
        raise SystemExit(f"grpc_anonymous_namespaces: {exc}") from None
    servicer = ModelStore(
        service,
        Tracking(service, SqlTrackingStore(service.store)),
        webhooks,
        anonymous=anonymous,
        endpoints=Endpoints(
            host=settings.host, grpc_port=settings.grpc_port, http_port=settings.port
        ),
        max_watchers=WORKERS // 2,
        max_message_bytes=settings.grpc_max_message_bytes,
    )
    limit = settings.grpc_max_message_bytes
    server = grpc.server(
        ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="modelyard-grpc"),
        handlers=[model_store_handler(servicer)],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ],
    )
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        server.add_insecure_port(f"{host}:{settings.grpc_port}")
    except RuntimeError as exc:
        raise SystemExit(f"cannot listen for gRPC on {host}:{settings.grpc_port}: {exc}") from None
    return server


def running(server: grpc.Server, inner: Lifespan) -> Lifespan:
    """``inner`` (the app's lifespan) with the gRPC server answering inside it: started last,
    stopped first."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with inner(app):
            server.start()
            try:
                yield
            finally:
                await run_in_threadpool(lambda: server.stop(STOP_GRACE).wait())

    return lifespan


__all__ = ["anonymous_namespaces", "build_grpc_server", "model_store_handler", "running"]
