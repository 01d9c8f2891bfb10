"""The served definition is ModelBox's: the committed .proto compiles to what the generated
module holds, and that is the published client's descriptor, field for field.

The client's module runs in a subprocess: it defines the same ``modelbox.*`` names as ours,
and one process's default descriptor pool takes only one of them (see modelbox_stub).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from google.protobuf import descriptor_pb2

import modelyard
from modelyard.grpc._generated.modelbox import service_pb2

PROTOS = Path(modelyard.__file__).parent / "grpc" / "protos"

_DUMP_THEIRS = """
import sys
from google.protobuf import descriptor_pb2
from modelbox import service_pb2
proto = descriptor_pb2.FileDescriptorProto()
service_pb2.DESCRIPTOR.CopyToProto(proto)
sys.stdout.buffer.write(proto.SerializeToString())
"""


def _theirs() -> descriptor_pb2.FileDescriptorProto:
    out = subprocess.run(
        [sys.executable, "-c", _DUMP_THEIRS], check=True, capture_output=True
    ).stdout
    return descriptor_pb2.FileDescriptorProto.FromString(out)


def _ours() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    service_pb2.DESCRIPTOR.CopyToProto(proto)
    return proto


def test_the_generated_module_is_the_published_clients_service() -> None:
    ours, theirs = _ours(), _theirs()
    assert ours.name == "modelbox/service.proto"
    ours.name = theirs.name  # the file's name is ours; package, names and numbers are theirs
    assert ours == theirs


def test_the_generated_module_is_up_to_date_with_the_proto(tmp_path: Path) -> None:
    from grpc_tools import protoc  # installed with the client (its own dependency)

    out = tmp_path / "service.pb"
    includes = Path(protoc.__file__).parent / "_proto"
    status = protoc.main(
        [
            "protoc",
            f"-I{PROTOS}",
            f"-I{includes}",
            f"--descriptor_set_out={out}",
            str(PROTOS / "modelbox" / "service.proto"),
        ]
    )
    assert status == 0
    (compiled,) = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    _drop_json_names(compiled.message_type)  # protoc fills them in; the runtime leaves them out
    assert compiled == _ours()


def _drop_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _drop_json_names(message.nested_type)
