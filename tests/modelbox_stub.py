"""A client stub for ``modelbox.ModelStore`` built from modelyard's own descriptors.

The published ``modelbox`` client's modules register ``service.proto`` in the process's
descriptor pool, as MLflow's do: the two cannot be imported in one process, and MLflow is (by
the runtime tests). So the test process calls the gRPC API with this stub and
``modelyard.grpc._generated.modelbox.service_pb2`` (``pb``); the published client runs in
subprocesses of its own.
"""

from __future__ import annotations

from typing import Any

import grpc

from modelyard.grpc._generated.modelbox import service_pb2 as pb

_KINDS = {
    (False, False): "unary_unary",
    (False, True): "unary_stream",
    (True, False): "stream_unary",
    (True, True): "stream_stream",
}


class ModelStoreStub:
    """``stub.CreateModel(pb.CreateModelRequest(...), metadata=...)`` and so on, for every
    method of the service."""

    def __init__(self, channel: grpc.Channel) -> None:
        service = pb.DESCRIPTOR.services_by_name["ModelStore"]
        for method in service.methods:
            kind = _KINDS[(method.client_streaming, method.server_streaming)]
            call: Any = getattr(channel, kind)(
                f"/{service.full_name}/{method.name}",
                request_serializer=getattr(pb, method.input_type.name).SerializeToString,
                response_deserializer=getattr(pb, method.output_type.name).FromString,
            )
            setattr(self, method.name, call)

    def __getattr__(self, name: str) -> Any:  # the methods are set in __init__
        raise AttributeError(name)


__all__ = ["ModelStoreStub", "pb"]
