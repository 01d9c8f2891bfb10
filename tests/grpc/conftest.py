"""One real ``modelyard server`` per session with its gRPC port open, for the ModelBox client.

Namespace ``mbx`` takes calls without credentials (the published client sends none); every
other namespace needs ``authorization: Bearer <token>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_support import ANONYMOUS_NAMESPACE, MAX_MESSAGE, GrpcServer

from modelyard import Client
from server_support import free_port, running_server


@pytest.fixture(scope="session")
def grpc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcServer]:
    port = free_port()
    with running_server(
        tmp_path_factory.mktemp("grpc-home"),
        "--grpc-port",
        str(port),
        "--grpc-anonymous-namespaces",
        ANONYMOUS_NAMESPACE,
        "--grpc-max-message-bytes",
        str(MAX_MESSAGE),
    ) as server:
        yield GrpcServer(server=server, address=f"127.0.0.1:{port}")


@pytest.fixture
def admin(grpc_server: GrpcServer) -> Iterator[Client]:
    with Client(grpc_server.server.url, grpc_server.server.admin_token) as client:
        yield client


@pytest.fixture
def stub(grpc_server: GrpcServer) -> Iterator[Any]:
    """A ``modelbox_stub.ModelStoreStub``, imported here only: the client flow's process
    loads the client's modules, which cannot share a process with ours."""
    from modelbox_stub import ModelStoreStub

    with grpc.insecure_channel(grpc_server.address) as channel:
        yield ModelStoreStub(channel)
