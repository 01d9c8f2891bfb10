"""One real ``modelyard server`` per session with its gRPC port open, for the ModelBox client.

Namespace ``mbx`` takes calls without credentials (the published client sends none); every
other namespace needs ``authorization: Bearer <token>``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import grpc
import pytest
from grpc_support import ANONYMOUS_NAMESPACE, MAX_MESSAGE, GrpcServer
from modelbox import service_pb2_grpc

from modelyard import Client
from server_support import running_server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def grpc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcServer]:
    port = _free_port()
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
def stub(grpc_server: GrpcServer) -> Iterator[service_pb2_grpc.ModelStoreStub]:
    """The client package's own stub, for calls its high-level API does not make."""
    with grpc.insecure_channel(grpc_server.address) as channel:
        yield service_pb2_grpc.ModelStoreStub(channel)
