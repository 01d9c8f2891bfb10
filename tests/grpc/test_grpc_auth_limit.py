"""A server without anonymous namespaces, and a failed-authentication limit of 2: every call
needs a token, and an address that keeps failing is refused for a while."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import grpc
import pytest
from grpc_support import bearer

from modelbox_stub import ModelStoreStub, pb
from server_support import running_server


@pytest.fixture(scope="module")
def strict_stub(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ModelStoreStub, str]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    home = tmp_path_factory.mktemp("strict-grpc-home")
    with (
        running_server(home, "--grpc-port", str(port), "--auth-failure-limit", "2") as server,
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        yield ModelStoreStub(channel), server.admin_token


def test_every_call_needs_a_token_and_repeated_failures_are_refused(
    strict_stub: tuple[ModelStoreStub, str],
) -> None:
    stub, admin_token = strict_stub
    listed = stub.ListModels(pb.ListModelsRequest(), metadata=bearer(admin_token))
    assert list(listed.models) == []
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListModels(pb.ListModelsRequest(namespace="default"))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListModels(pb.ListModelsRequest(), metadata=bearer(admin_token))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "too many failed authentications" in caught.value.details()
    trailers = dict(caught.value.trailing_metadata())
    assert trailers["modelyard-error-code"] == "TOO_MANY_REQUESTS"
    assert int(trailers["retry-after"]) > 0
