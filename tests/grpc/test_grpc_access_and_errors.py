"""Authentication, permissions and malformed calls on the gRPC surface: the service's rules,
answered with gRPC status codes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from grpc_support import ANONYMOUS_NAMESPACE, MAX_MESSAGE, bearer

from modelbox_stub import ModelStoreStub, pb
from modelyard import Client

Stub = ModelStoreStub


@pytest.fixture(scope="module")
def tokens(grpc_server: Any) -> dict[str, str]:
    """alice (write and read-only) and bob; each test makes its own names."""
    with Client(grpc_server.server.url, grpc_server.server.admin_token) as admin:
        admin.create_user("alice")
        admin.create_user("bob")
        return {
            "alice": admin.create_token("alice"),
            "alice-read": admin.create_token("alice", scope="read"),
            "bob": admin.create_token("bob"),
        }


def refused(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def new_model(stub: Stub, token: str, name: str, namespace: str = "team") -> str:
    request = pb.CreateModelRequest(name=name, namespace=namespace, task="t")
    return stub.CreateModel(request, metadata=bearer(token)).id


def test_a_call_without_a_token_outside_the_anonymous_namespace_is_unauthenticated(
    stub: Stub, tokens: dict[str, str], admin: Client
) -> None:
    error = refused(lambda: stub.CreateModel(pb.CreateModelRequest(name="m", namespace="team")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer" in error.details()
    # A bad token is refused even where anonymous calls are allowed, and audited.
    error = refused(
        lambda: stub.ListModels(
            pb.ListModelsRequest(namespace=ANONYMOUS_NAMESPACE), metadata=bearer("my_bad_token")
        )
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    failed = list(admin.audit_log(action="auth.failed"))
    assert any(e.client == "127.0.0.1" for e in failed)


def test_a_private_model_of_another_user_is_not_found(stub: Stub, tokens: dict[str, str]) -> None:
    model_id = new_model(stub, tokens["alice"], "private-one")
    bob = bearer(tokens["bob"])
    for call in (
        lambda: stub.ListArtifacts(pb.ListArtifactsRequest(parent_id=model_id), metadata=bob),
        lambda: stub.GetMetrics(pb.GetMetricsRequest(parent_id=model_id), metadata=bob),
        lambda: stub.CreateModelVersion(
            pb.CreateModelVersionRequest(model=model_id, version="1"), metadata=bob
        ),
        lambda: stub.ListMetadata(pb.ListMetadataRequest(parent_id=model_id)),  # anonymous
    ):
        error = refused(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert "private-one" not in error.details()
    listed = stub.ListModels(pb.ListModelsRequest(namespace="team"), metadata=bob)
    assert "private-one" not in [m.name for m in listed.models]
    mine = stub.ListModels(pb.ListModelsRequest(namespace="team"), metadata=bearer(tokens["alice"]))
    assert "private-one" in [m.name for m in mine.models]


def test_an_experiment_is_read_by_its_namespace_only(stub: Stub, tokens: dict[str, str]) -> None:
    alice = bearer(tokens["alice"])
    created = stub.CreateExperiment(
        pb.CreateExperimentRequest(name="exp", namespace="team"), metadata=alice
    )
    again = stub.CreateExperiment(
        pb.CreateExperimentRequest(name="exp", namespace="team"), metadata=alice
    )
    assert (again.experiment_id, again.experiment_exists) == (created.experiment_id, True)
    error = refused(
        lambda: stub.GetExperiment(
            pb.GetExperimentRequest(id=created.experiment_id), metadata=bearer(tokens["bob"])
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_a_read_only_token_reads_but_cannot_write(stub: Stub, tokens: dict[str, str]) -> None:
    model_id = new_model(stub, tokens["alice"], "read-only-target")
    reader = bearer(tokens["alice-read"])
    assert stub.ListMetadata(pb.ListMetadataRequest(parent_id=model_id), metadata=reader)
    value = struct_pb2.Value(string_value="x")
    error = refused(
        lambda: stub.UpdateMetadata(
            pb.UpdateMetadataRequest(
                parent_id=model_id, metadata=pb.Metadata(metadata={"k": value})
            ),
            metadata=reader,
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "read-only" in error.details()
    frames = iter(
        [
            pb.UploadFileRequest(metadata=pb.FileMetadata(parent_id=model_id, path="a.bin")),
            pb.UploadFileRequest(chunks=b"abc"),
        ]
    )
    error = refused(lambda: stub.UploadFile(frames, metadata=reader))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def _upload(stub: Stub, token: str, frames: list[pb.UploadFileRequest]) -> pb.UploadFileResponse:
    def stream() -> Iterator[pb.UploadFileRequest]:
        yield from frames

    return stub.UploadFile(stream(), metadata=bearer(token))


def test_an_upload_must_start_with_metadata_and_match_its_checksum(
    stub: Stub, tokens: dict[str, str]
) -> None:
    model_id = new_model(stub, tokens["alice"], "uploads")
    for frames in ([pb.UploadFileRequest(chunks=b"bytes first")], []):
        error = refused(lambda frames=frames: _upload(stub, tokens["alice"], frames))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "must start with a metadata frame" in error.details()
    wrong = hashlib.md5(b"other bytes").hexdigest()
    meta = pb.FileMetadata(parent_id=model_id, path="w.bin", checksum=wrong)
    frames = [pb.UploadFileRequest(metadata=meta), pb.UploadFileRequest(chunks=b"these bytes")]
    error = refused(lambda: _upload(stub, tokens["alice"], frames))
    assert error.code() == grpc.StatusCode.DATA_LOSS
    listed = stub.ListArtifacts(
        pb.ListArtifactsRequest(parent_id=model_id), metadata=bearer(tokens["alice"])
    )
    assert list(listed.files) == []


def test_an_over_size_message_is_resource_exhausted(stub: Stub, tokens: dict[str, str]) -> None:
    model_id = new_model(stub, tokens["alice"], "big")
    value = struct_pb2.Value(string_value="x" * (MAX_MESSAGE + 1))
    request = pb.UpdateMetadataRequest(
        parent_id=model_id, metadata=pb.Metadata(metadata={"k": value})
    )
    error = refused(lambda: stub.UpdateMetadata(request, metadata=bearer(tokens["alice"])))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_anonymous_callers_act_only_in_the_allowed_namespace(
    stub: Stub, tokens: dict[str, str], admin: Client
) -> None:
    allowed = stub.CreateModel(pb.CreateModelRequest(name="anon", namespace=ANONYMOUS_NAMESPACE))
    assert allowed.id
    for namespace in ("default", "team"):
        error = refused(
            lambda namespace=namespace: stub.CreateModel(
                pb.CreateModelRequest(name="anon", namespace=namespace)
            )
        )
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    # Not even a public model elsewhere is theirs to see.
    public = admin.new_model("public-one", namespace="default", access="public")
    error = refused(lambda: stub.ListArtifacts(pb.ListArtifactsRequest(parent_id=public.id)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert list(stub.ListModels(pb.ListModelsRequest(namespace="default")).models) == []
